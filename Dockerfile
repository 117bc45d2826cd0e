# The Ledger processes, for compose.yaml. Dependencies come from uv.lock, like the native install.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/ledger PATH=/opt/ledger/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY command_api command_api
COPY query_api query_api
COPY projectors projectors
COPY infra infra
RUN uv sync --frozen --no-dev
RUN useradd --system ledger
USER ledger
