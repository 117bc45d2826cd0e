"""The layers' dependency rules hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

from importlinter.cli import lint_imports


def test_every_import_contract_is_kept() -> None:
    assert lint_imports(no_cache=True) == 0
