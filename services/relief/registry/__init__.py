"""Projection of eligibility's registry: households and persons a relief case may name."""
