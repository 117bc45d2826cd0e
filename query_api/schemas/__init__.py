"""Response models of the query API, one module per view."""
