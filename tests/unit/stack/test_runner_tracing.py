"""`ledger up` sends its processes' traces to the stack's own backend, unless told otherwise."""

from __future__ import annotations

import os

import pytest

from infra.settings import Settings, StackSettings
from infra.stack.runner import tracing_environment


def without_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)


def test_processes_export_to_the_stacks_jaeger_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    without_otel(monkeypatch)
    settings = Settings(stack=StackSettings(jaeger_otlp_port=14318))

    assert tracing_environment(settings) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:14318"
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ],
)
def test_any_otel_variable_of_the_operator_wins(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    without_otel(monkeypatch)
    monkeypatch.setenv(name, value)

    assert tracing_environment(Settings()) == {}
