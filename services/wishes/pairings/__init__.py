"""阳光1+1 pairings of social organizations with old-area villages (R-OA-2)."""
