"""Safe-housing projects (低保安居工程, R-HS-1): milestones, tranches, the count against the target."""
