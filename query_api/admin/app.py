"""How the query API's process serves the operator endpoints."""

from __future__ import annotations

from fastapi import FastAPI

from query_api.admin.problems import install_admin_problems
from query_api.admin.routes import router
from query_api.admin.traces import router as traces_router


def include_admin(app: FastAPI) -> None:
    """Serve the operator routes and their problems; their services come from the lifespan.

    The app's lifespan opens them with `query_api.admin.services.open_admin_services`
    and yields them as `admin_services`.
    """
    install_admin_problems(app)
    app.include_router(router)
    app.include_router(traces_router)
