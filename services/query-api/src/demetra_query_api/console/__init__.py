"""The console: the analytics dashboard, a static single-page app over this API's public endpoints."""
