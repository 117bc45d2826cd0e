"""The ASGI middleware that puts a `RateLimiter` in front of an app."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.problems import ProblemExample, problem_response
from infra.security.ratelimit.limiter import Decision, RateLimiter
from infra.security.ratelimit.routes import classify_request, principal_client_id
from infra.security.ratelimit.window import LimitState
from infra.settings import RouteClass

Classifier = Callable[[Request], RouteClass | None]
ClientIdentifier = Callable[[Request], str | Awaitable[str | None] | None]

# While Redis is down, a refused request may retry this soon.
STORE_DOWN_RETRY_AFTER_SECONDS = 1

# For `problem_responses(429, 503, catalogue=RATE_LIMIT_PROBLEMS)` in the OpenAPI documents.
RATE_LIMIT_PROBLEMS = (
    ProblemExample(
        429,
        "rate-limited",
        "Too many requests",
        "The limit of 100 requests per second for commands is used up; retry in 1 s.",
    ),
    ProblemExample(
        503,
        "rate-limiter-unavailable",
        "Rate limiting unavailable",
        "Request limits cannot be checked right now, so commands are refused; retry shortly.",
    ),
)


class RateLimitMiddleware:
    """Refuses over-limit requests with a 429 problem; puts `RateLimit-*` on every answer."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        classify: Classifier = classify_request,
        client_id: ClientIdentifier = principal_client_id,
    ) -> None:
        # `classify` names a request's route class (None: never limited, e.g. /health);
        # `client_id` names its client, sync or async (None: anonymous, limited by remote
        # address). Both run before routing: route dependencies have not run yet.
        self._app = app
        self._limiter = limiter
        self._classify = classify
        self._client_id = client_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or not self._limiter.settings.enabled:
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        route_class = self._classify(request)
        if route_class is None:
            await self._app(scope, receive, send)
            return
        client_id = self._client_id(request)
        if inspect.isawaitable(client_id):
            client_id = await client_id
        address = scope.get("client")
        decision = await self._limiter.check(
            route_class, client_id, address[0] if address else None
        )
        headers = rate_limit_headers(decision)
        if decision.outcome == "limited" and decision.binding is not None:
            refusal = _too_many_requests(route_class, decision.binding, headers, scope["path"])
            await refusal(scope, receive, send)
        elif decision.outcome == "refused-unchecked":
            await _limiter_unavailable(route_class, scope["path"])(scope, receive, send)
        else:
            await self._app(scope, receive, _with_headers(send, headers))

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def send_and_close(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self._limiter.aclose()
            await send(message)

        return send_and_close


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """`RateLimit-Limit`, `-Remaining`, `-Reset` (seconds) and `-Policy`; none when unchecked."""
    state = decision.binding
    if state is None:
        return {}
    headers = {
        "RateLimit-Limit": str(state.amount),
        "RateLimit-Remaining": str(state.remaining),
        "RateLimit-Reset": str(state.reset_seconds),
        "RateLimit-Policy": decision.policy,
    }
    if not state.allowed:
        headers["Retry-After"] = str(state.retry_after_seconds)
    return headers


def _too_many_requests(
    route_class: RouteClass, state: LimitState, headers: dict[str, str], path: str
) -> ASGIApp:
    window = "second" if state.window_seconds == 1 else f"{state.window_seconds} seconds"
    return problem_response(
        429,
        "rate-limited",
        "Too many requests",
        f"The limit of {state.amount} requests per {window} for {route_class} is used up; "
        f"retry in {state.retry_after_seconds} s.",
        instance=path,
        headers=headers,
        route_class=route_class,
    )


def _limiter_unavailable(route_class: RouteClass, path: str) -> ASGIApp:
    return problem_response(
        503,
        "rate-limiter-unavailable",
        "Rate limiting unavailable",
        f"Request limits cannot be checked right now, so {route_class} are refused; retry shortly.",
        instance=path,
        headers={"Retry-After": str(STORE_DOWN_RETRY_AFTER_SECONDS)},
    )


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start" and encoded:
            message["headers"] = [*message.get("headers", []), *encoded]
        await send(message)

    return send_with_headers
