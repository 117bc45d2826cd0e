"""What both APIs put in front of their routes: authentication, rate limits, CORS, headers.

One function so that the command and query APIs cannot drift apart at their edge. The
middleware order, outermost first: metrics (counts every answer, 429s included),
correlation id (on every answer), security headers, CORS, rate limiting (before any body
is read), then the app's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Scope

from infra.http.correlation import CorrelationIdMiddleware
from infra.http.middleware import Header, ResponseHeadersMiddleware
from infra.http.openapi import omit_null_from_parameters
from infra.runtime.probes import RequestMetricsMiddleware, metrics_router
from infra.security.auth import TokenVerifier, install_authentication
from infra.security.ratelimit import RateLimiter, RateLimitMiddleware, classify_request
from infra.settings import Settings

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware(ResponseHeadersMiddleware):
    """API answers are never sniffed, framed, cached or leak a referrer."""

    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """Each security header the response does not set itself."""
        present = {name.lower() for name, _ in headers}
        return [(name, value) for name, value in SECURITY_HEADERS if name not in present]


def install_edge(
    app: FastAPI,
    settings: Settings,
    service: str,
    *,
    verifier: TokenVerifier | None = None,
    limiter: RateLimiter | None = None,
) -> None:
    """Authenticate, rate-limit, add CORS (if configured) and headers, count and time requests."""
    install_authentication(app, settings.auth, verifier=verifier)
    omit_null_from_parameters(app)
    if settings.ratelimit.enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limiter=limiter
            or RateLimiter.from_url(settings.ratelimit, settings.redis.url.get_secret_value()),
            classify=classify_request,
        )
    origins = settings.api.cors_origins()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Correlation-Id",
                "X-Min-Version",
                "X-Min-Position",
                "traceparent",
                "tracestate",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "X-Correlation-Id",
                "X-Consistency",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "traceresponse",
            ],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware, service=service)
    app.include_router(metrics_router())
