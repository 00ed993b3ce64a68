"""The roster: a projection of current benefits built only from events (eligibility's registry
and care's self-care assessments), rebuildable by replaying the streams."""
