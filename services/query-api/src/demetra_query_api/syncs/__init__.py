"""Syncs: their history and status, derived from the events table, and ad-hoc sync requests."""
