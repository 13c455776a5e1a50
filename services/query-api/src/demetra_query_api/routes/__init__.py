"""HTTP edges of the query API: parse and validate, call the core, shape the response."""
