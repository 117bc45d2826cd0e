"""Rate limiting per client and route class, shared across replicas through Redis.

Attach to an app with
`app.add_middleware(RateLimitMiddleware, limiter=RateLimiter.from_url(settings.ratelimit,
settings.redis.url.get_secret_value()), classify=…, client_id=…)`; the limiter's Redis
connections close when the app's lifespan ends.
"""

from infra.security.ratelimit.limiter import Decision, RateLimiter
from infra.security.ratelimit.middleware import (
    RATE_LIMIT_PROBLEMS,
    Classifier,
    ClientIdentifier,
    RateLimitMiddleware,
)
from infra.security.ratelimit.routes import classify_request, principal_client_id

__all__ = [
    "RATE_LIMIT_PROBLEMS",
    "Classifier",
    "ClientIdentifier",
    "Decision",
    "RateLimitMiddleware",
    "RateLimiter",
    "classify_request",
    "principal_client_id",
]
