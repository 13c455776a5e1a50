"""Campaigns: filtered, sorted, keyset-paginated pages, and one campaign by id."""
