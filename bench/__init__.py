"""`make bench`: measurements against baselines taken in the same run."""
