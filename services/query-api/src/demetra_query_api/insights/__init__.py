"""Insights: what the insights service found (anomalies with their money at stake), keyset-paginated."""
