"""Property-based tests of both OpenAPI documents, through the gateway with a valid token.

Schemathesis generates requests from each operation's schema (bounded examples per
operation); every answer must be no 5xx and must match the documented response schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from command_api.app import create_app as create_command_app
from infra.settings import Settings
from query_api.app import create_app as create_query_app
from tests.e2e.conftest import RunningSystem, running
from tests.unit.test_openapi import SETTINGS

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_system(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """The system with a short consistency wait: fuzzed tokens point far into the future."""
    quick = module_settings.model_copy(
        update={
            "query": module_settings.query.model_copy(update={"consistency_timeout_seconds": 0.05})
        }
    )
    with running(quick, tmp_path_factory.mktemp("fuzzed")) as system:
        yield system


# The documents are built from the apps themselves (no server needed to read them);
# the requests go to the running system's gateway.
command_api = schemathesis.openapi.from_dict(create_command_app(SETTINGS).openapi())
# The NDJSON stream may follow the log forever (by design); tests/e2e/test_history_api.py
# covers it, so the fuzzer leaves it out.
query_api = schemathesis.openapi.from_dict(create_query_app(SETTINGS).openapi()).exclude(
    path="/v1/events/stream"
)
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def call(case: Any, system: RunningSystem) -> None:
    assert system.gateway is not None
    case.call_and_validate(
        base_url=system.gateway_url,
        headers={"Authorization": f"Bearer {system.service_token}"},
        verify=str(Path(system.gateway.files.certificate)),
        checks=CHECKS,
        timeout=30,
    )


@command_api.parametrize()
@FUZZ
def test_the_command_api_never_fails_and_matches_its_schema(
    case: Any, fuzzed_system: RunningSystem
) -> None:
    call(case, fuzzed_system)


@query_api.parametrize()
@FUZZ
def test_the_query_api_never_fails_and_matches_its_schema(
    case: Any, fuzzed_system: RunningSystem
) -> None:
    call(case, fuzzed_system)
