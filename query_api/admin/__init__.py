"""The operators' endpoints on projections (`/v1/admin/projections…`), a small app of its own.

Served by the query API's process, beside the read routes, but with its own services and
lifecycle (`services`), its own problems, and a worker thread for rebuilds (`worker`).
"""
