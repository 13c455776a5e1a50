"""Compatibility with the original backend's test endpoints: mock data and "sync now"."""
