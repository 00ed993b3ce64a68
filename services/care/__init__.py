"""Tekun self-care and placement, left-behind registry, visits, devices and alerts."""
