"""The operators' console: a static page over the query API's JSON endpoints (ADR 0023)."""
