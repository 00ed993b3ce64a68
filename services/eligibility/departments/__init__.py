"""Data from other departments' systems: deaths and moves, disability certificates, medical
expenses, income data (system clients with scopes, bulk batches with a per-row report)."""
