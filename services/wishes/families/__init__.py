"""This service's projection of eligibility's households and benefits (R-MW-1 eligibility)."""
