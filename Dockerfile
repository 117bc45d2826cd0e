# syntax=docker/dockerfile:1
# One image for every Ledger process, built from uv.lock like the native install. The
# command picks the process: `ledger-command-api`, `ledger-query-api`, `ledger-projector`,
# `ledger-relay`, `ledger-transfer-process`, `ledger-issuer`, or `ledger migrate`.
# tests/integration/test_image.py replays the build stage's COPY and `uv sync` lines.

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
# The interpreter of the base image, never a downloaded one: the runtime stage has the same.
ENV UV_PROJECT_ENVIRONMENT=/opt/ledger \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src

# The dependencies alone first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then Ledger itself, as a regular (non-editable) package: the runtime needs no source tree.
COPY README.md ./
COPY domain domain
COPY command_api command_api
COPY query_api query_api
COPY projectors projectors
COPY infra infra
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable


FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="ledger" \
      org.opencontainers.image.description="An event-sourced CQRS money ledger: FastAPI commands, PostgreSQL event store, Kafka relay, MongoDB read models."

# A numeric user the orchestrator can check without /etc/passwd (runAsNonRoot), no home.
RUN groupadd --system --gid 10001 ledger \
    && useradd --system --uid 10001 --gid ledger --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin ledger

# Owned by root and never written at run time: the root filesystem may be read-only.
COPY --from=build /opt/ledger /opt/ledger

# The `ledger` command keeps the local stack's state (the local issuer's key) in
# LEDGER_STACK_DIR, by default beside the installed code: /tmp is the one writable place.
# PYTHONSAFEPATH keeps the working directory off sys.path.
ENV PATH=/opt/ledger/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    LEDGER_STACK_DIR=/tmp/ledger-stack
WORKDIR /tmp
USER 10001:10001
CMD ["ledger", "--help"]
