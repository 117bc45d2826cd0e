"""How the query API serves the operators' console: its static files under `/console/`.

The console is plain HTML, CSS and JavaScript modules calling the existing JSON APIs
from the browser with the operator's bearer token; nothing here reads a token or data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from infra.http.middleware import Header, ResponseHeadersMiddleware

PREFIX = "/console"
STATIC = Path(__file__).with_name("static")

# Scripts, styles and data only from the console's own origin, never inline: a token in
# sessionStorage is as safe as the page is from injected script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The files have no content hash in their names (no build step), so a browser keeps them
# but asks again each time; an unchanged file costs a 304 (StaticFiles sends ETags).
CACHE_CONTROL = "no-cache"
CONSOLE_HEADERS: tuple[Header, ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"cache-control", CACHE_CONTROL.encode()),
)


class ConsoleHeadersMiddleware(ResponseHeadersMiddleware):
    """The console's policy and caching on the answers of its files."""

    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """The console's own headers, replacing none the response set itself."""
        present = {name.lower() for name, _ in headers}
        return [(name, value) for name, value in CONSOLE_HEADERS if name not in present]


def console_files() -> ConsoleHeadersMiddleware:
    """The static files, `index.html` for the folder itself."""
    return ConsoleHeadersMiddleware(StaticFiles(directory=STATIC, html=True))


async def redirect_to_console() -> RedirectResponse:
    """`/console` → `/console/`, so the page's relative module paths resolve."""
    # Relative: behind the gateway the Host header carries no port, so an absolute URL
    # built from it (Starlette's own slash redirect) would point at the wrong one.
    return RedirectResponse(f"{PREFIX}/", status_code=308, headers=dict(_header_text()))


def _header_text() -> list[tuple[str, str]]:
    return [(name.decode(), value.decode()) for name, value in CONSOLE_HEADERS]


def include_console(app: FastAPI) -> None:
    """Serve the console at `/console/`; no token is needed for its files, only for data."""
    app.add_api_route(PREFIX, redirect_to_console, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, console_files(), name="console")
