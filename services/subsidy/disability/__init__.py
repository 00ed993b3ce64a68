"""Disability "two subsidies" (残疾人两项补贴, R-DS): who gets the living and the nursing subsidy."""
