"""The metrics summary: totals and KPIs per channel and day, from the campaign_daily_metrics view."""
