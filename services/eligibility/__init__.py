"""Household registry, income assessment, dibao (低保) / tekun (特困) decisions and return-to-poverty monitoring."""
