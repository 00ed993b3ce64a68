"""Monthly payment runs: snapshot, cross-check, approval, bank file, bank returns, carry-over."""
