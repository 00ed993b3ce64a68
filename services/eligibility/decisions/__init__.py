"""Dibao, single-person inclusion, gradual exit, tekun, orphan, child-without-care and veteran decisions."""
