"""The five services of the suite; none imports another's code."""
