"""The 505 micro-wish campaign (微光成炬): public board, pledges, fulfilment, 1+1 pairings."""
