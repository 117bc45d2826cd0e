"""`python -m tests.deploy`: lint the chart, render it for each value set and validate every
object offline with `kubeconform -strict`, then the example operator manifests.

Prints one line per value set or manifest file; on the first failure, prints it on one line
and exits 1.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import tools


def check_value_set(values: Path) -> str:
    """Lint, render and validate the chart with one value set; say what it rendered."""
    tools.lint([values])
    manifests = tools.render([values])
    return _report(values, manifests, tools.validate(manifests))


def check_manifest(manifest: Path) -> str:
    """Validate one file of example objects; say what it holds."""
    manifests = manifest.read_text()
    return _report(manifest, manifests, tools.validate(manifests))


def _report(source: Path, manifests: str, summary: Mapping[str, Any]) -> str:
    kinds = Counter(document["kind"] for document in yaml.safe_load_all(manifests) if document)
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"{source.relative_to(tools.PROJECT_ROOT)}: {counts}: {summary['valid']} valid"


def main() -> int:
    """Run every check; 0 when all pass."""
    try:
        for values in tools.value_sets():
            print(check_value_set(values))
        for manifest in tools.example_manifests():
            print(check_manifest(manifest))
    except tools.ToolError as error:
        print(f"deploy check failed: {' | '.join(str(error).splitlines())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
