"""Insights: explained, measured alerts over the campaigns daily history."""
