"""Return-to-poverty monitoring (防止返贫监测, R-RM-1..5): flags, referrals, the daily sweep."""
