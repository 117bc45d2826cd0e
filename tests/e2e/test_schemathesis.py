"""Property-based tests of both OpenAPI documents, through the gateway with a valid token.

Schemathesis generates valid and invalid requests from each operation's schema and runs
its full list of checks on every answer: no 5xx, statuses, content types, headers and
bodies as documented, valid data accepted, invalid data refused, missing headers refused,
authentication enforced, undeclared methods refused with 405.

One tuning, so the checks judge what the documents promise: a schema-valid request may
be refused with 422 when the problem's `type` is one its operation documents for a rule
JSON Schema cannot express (two consistency tokens at once, an `Idempotency-Key` reused
with another body...). `validation-error`, or any undocumented type, still fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from command_api.app import create_app as create_command_app
from infra.settings import Settings
from query_api.app import create_app as create_query_app
from tests.e2e.conftest import RunningSystem, running
from tests.unit.test_openapi import SETTINGS

pytestmark = pytest.mark.e2e

# Enough to draw two consistency tokens at once, an empty `type`, a reused key, both of
# `version` and `at`; the fuzzing phase of each operation, after its coverage phase.
EXAMPLES_PER_OPERATION = 40
VALIDATION_ERROR = "https://problems.ledger.example/validation-error"
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # 413: the gateway refuses an oversized body before validation, as documented.
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415"),
                    *("422", "428", "429", "5xx"),
                ]
            },
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            },
        },
    }
)
# Every check runs, `unsupported_method` included: the gateway answers an undeclared
# method with 405 and the path's Allow (tests/unit/test_gateway_routes.py).


def documented_rules(case: Any) -> set[str]:
    """Problem types the operation documents for 422, other than schema validation."""
    documented = case.operation.definition.raw.get("responses", {}).get("422", {})
    examples = documented.get("content", {}).get("application/problem+json", {})
    types = {e["value"]["type"] for e in examples.get("examples", {}).values()}
    return types - {VALIDATION_ERROR}


def refused_only_by_documented_rules(ctx: CheckContext, response: Response, case: Any) -> None:
    """A schema-valid request refused with 422 names a rule its operation documents."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code != 422:
        return
    problem = response.json().get("type")
    rules = documented_rules(case)
    assert problem in rules, (
        f"{case.operation.label}: schema-valid request refused with 422 {problem}; "
        f"the operation documents only {sorted(rules) or 'schema validation'}"
    )


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


def gateway_document() -> dict[str, Any]:
    """The contract a client of the gateway sees: both APIs' documents as one.

    Built from the apps themselves (no server needed to read them). One origin serves both,
    so a path's methods are the union of the two (`/v1/accounts`: GET lists, POST opens),
    which is what the gateway's 405s put in `Allow`. Shared components are identical.
    """
    command = create_command_app(SETTINGS).openapi()
    query = create_query_app(SETTINGS).openapi()
    paths: dict[str, Any] = {}
    for document in (command, query):
        for path, operations in document["paths"].items():
            paths.setdefault(path, {}).update(operations)
    components: dict[str, Any] = {}
    for document in (command, query):
        for section, entries in document.get("components", {}).items():
            merged = components.setdefault(section, {})
            clashes = {k for k in entries if k in merged and merged[k] != entries[k]}
            assert not clashes, f"the APIs define {section} {sorted(clashes)} differently"
            merged.update(entries)
    info = {"title": "Ledger, through the gateway", "version": command["info"]["version"]}
    return {**command, "info": info, "paths": paths, "components": components}


# The requests go to the running system's gateway.
# The probes are for the supervisor on each replica's own port; the gateway does not route
# them (404), so they are checked by the replicas' start-up, not through the gateway.
# The NDJSON stream may follow the log forever (by design); tests/e2e/test_history_api.py
# covers it, so the fuzzer leaves it out.
gateway_api = schemathesis.openapi.from_dict(gateway_document(), config=CONFIG).exclude(
    path=["/health", "/ready", "/v1/events/stream"]
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
        additional_checks=[refused_only_by_documented_rules],
        timeout=30,
    )


@gateway_api.parametrize()
@FUZZ
def test_the_apis_answer_only_as_documented(case: Any, fuzzed_system: RunningSystem) -> None:
    call(case, fuzzed_system)
