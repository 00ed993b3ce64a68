"""Versioned policy parameters (POLICY.md: "policy is data") of the eligibility service."""
