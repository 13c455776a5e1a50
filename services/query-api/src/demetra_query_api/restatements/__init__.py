"""Restatements: past days' metrics that a newer fetch changed, newest first, keyset-paginated."""
