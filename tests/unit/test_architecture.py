"""The layers' dependency rules hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import logging

from importlinter.cli import lint_imports


def test_every_import_contract_is_kept() -> None:
    # import-linter configures logging with `dictConfig`, which disables every logger that
    # exists by then: every later test in the session would log nothing. Put them back.
    loggers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    disabled = {logger.name: logger.disabled for logger in loggers}
    try:
        assert lint_imports(no_cache=True) == 0
    finally:
        for logger in loggers:
            logger.disabled = disabled[logger.name]
