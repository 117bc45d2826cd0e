"""The README stays true: it opens with the two commands and documents every setting."""

from __future__ import annotations

import re
from pathlib import Path

from infra.settings import Settings, settings_environment

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_opens_with_the_up_and_test_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)

    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make up", "make test"]


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(LEDGER_[A-Z_]+)`", README))

    assert set(settings_environment(Settings())) <= documented


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()

    assert "make test" in ci
