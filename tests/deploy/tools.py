"""Helm and kubeconform at pinned versions, and the checks the chart must pass with them.

Both publish their binaries on GitHub, which this machine and CI cannot reach; both are Go
programs, so they are built from the Go module proxy with `go install`, once, into the
git-ignored `.tools/go/<name>-<version>/`. The schemas kubeconform needs come from
`schemas.py`, built from sources fetched the same offline way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tests.deploy.schemas import SCHEMA_LOCATION, GoModule, MavenFile, built_once, ensure_schemas

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLS = PROJECT_ROOT / ".tools"
CHART = PROJECT_ROOT / "deploy" / "helm" / "ledger"
EXAMPLES = PROJECT_ROOT / "deploy" / "examples"
RELEASE = "ledger"
NAMESPACE = "ledger"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
# Never run git for build stamps, need no C compiler (static binaries), and keep this
# machine's Go: a toolchain switch would download another Go, which CI should not need.
GO_ENVIRONMENT = {"GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
OUTPUT_TAIL_LINES = 20
KUBECONFORM_PREAMBLE = re.compile(
    r"^problem validating schema\. Check JSON formatting: "
    r"jsonschema validation failed with '[^']*' - "
)
NO_VALUES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class GoTool:
    """A command built with `go install package@version`, with the release build's -X flags."""

    name: str
    package: str
    version: str
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def ldflags(self) -> str:
        """The linker flags that set `variables`, as the project's own release build does."""
        return " ".join(f"-X {name}={value}" for name, value in self.variables)


# Helm's Makefile stamps its version and the Kubernetes version of its client-go (v0.37 is
# Kubernetes 1.37); a plain `go install` leaves 1.20, which charts needing a newer one refuse.
HELM = GoTool(
    "helm",
    "helm.sh/helm/v3/cmd/helm",
    "v3.22.0",
    (
        ("helm.sh/helm/v3/internal/version.version", "v3.22.0"),
        ("helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor", "1"),
        ("helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor", "37"),
        ("helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor", "1"),
        ("helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor", "37"),
    ),
)
KUBECONFORM = GoTool(
    "kubeconform",
    "github.com/yannh/kubeconform/cmd/kubeconform",
    "v0.8.0",
    (("main.version", "v0.8.0"),),
)


class ToolError(Exception):
    """A step of the deploy checks failed; the message names the step and shows its output."""

    def __init__(self, step: str, output: str) -> None:
        super().__init__(f"{step} failed:\n{output.strip()}")
        self.step = step
        self.output = output


class InvalidManifestsError(ToolError):
    """kubeconform found resources that are invalid, unreadable or without a schema."""

    def __init__(self, problems: Sequence[str], summary: Mapping[str, Any]) -> None:
        super().__init__("kubeconform", "\n".join(problems))
        self.problems = list(problems)
        self.summary = summary


def value_sets() -> list[Path]:
    """The example value sets the chart is checked with (`deploy/examples/values-*.yaml`).

    The chart's defaults alone are not one: they name no token issuer, which it refuses."""
    return sorted(EXAMPLES.glob("values-*.yaml"))


def example_manifests() -> list[Path]:
    """The operators' example objects: every example file that is not a value set."""
    return sorted(path for path in EXAMPLES.glob("*.yaml") if not path.name.startswith("values-"))


def helm() -> Path:
    """The pinned helm binary, built on first use."""
    return _installed(HELM)


def kubeconform() -> Path:
    """The pinned kubeconform binary, built on first use."""
    return _installed(KUBECONFORM)


def schema_dir() -> Path:
    """The generated kubeconform schemas for the pinned Kubernetes and CRD versions."""
    return ensure_schemas(TOOLS / "k8s-schemas", go_module_dir, maven_file)


def render(
    values_files: Sequence[Path],
    *,
    set_values: Mapping[str, str] = NO_VALUES,
    chart: Path = CHART,
) -> str:
    """The chart rendered by `helm template` with these values, as one YAML stream."""
    arguments = [str(helm()), "template", RELEASE, str(chart), "--namespace", NAMESPACE]
    arguments += _values_arguments(values_files)
    for name, value in set_values.items():
        arguments += ["--set", f"{name}={value}"]
    return _run(arguments, step="helm template").stdout


def lint(values_files: Sequence[Path], *, chart: Path = CHART) -> None:
    """Run `helm lint` on the chart with these values; raise when it reports an error."""
    _run(
        [str(helm()), "lint", "--strict", str(chart), *_values_arguments(values_files)],
        step="helm lint",
    )


def validate(manifests: str) -> dict[str, Any]:
    """kubeconform's summary of `manifests`; raise unless every resource is valid.

    A resource without a schema counts as a failure (no -ignore-missing-schemas): a kind
    nobody generated a schema for would otherwise pass unchecked.
    """
    location = f"{schema_dir()}/{SCHEMA_LOCATION}"
    arguments = [str(kubeconform()), "-strict", "-summary", "-output", "json"]
    arguments += ["-schema-location", location]
    completed = subprocess.run(
        arguments, input=manifests, capture_output=True, text=True, check=False
    )
    try:
        report: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise ToolError("kubeconform", completed.stderr + completed.stdout) from None
    summary: dict[str, Any] = report["summary"]
    problems = [_problem(resource) for resource in report.get("resources", [])]
    if summary["skipped"]:
        problems.append(f"{summary['skipped']} resources skipped")
    if problems:
        raise InvalidManifestsError(problems, summary)
    if completed.returncode != 0:
        raise ToolError("kubeconform", completed.stderr)
    return summary


def _problem(resource: Mapping[str, Any]) -> str:
    """One line per resource: its `msg` holds every nested cause, while `validationErrors`
    stops at the first level ('/spec: validation failed')."""
    message = KUBECONFORM_PREAMBLE.sub("", resource["msg"])
    return f"{resource['version']} {resource['kind']} {resource['name']!r}: {message}"


def _values_arguments(values_files: Sequence[Path]) -> list[str]:
    return [argument for file in values_files for argument in ("-f", str(file))]


def go_module_dir(module: GoModule) -> Path:
    """The unpacked source of a pinned Go module, from the module cache or the proxy."""
    arguments = ["mod", "download", "-json", f"{module.path}@{module.version}"]
    completed = _go(arguments, step=f"go mod download {module.path}@{module.version}")
    return Path(json.loads(completed.stdout)["Dir"])


def maven_file(file: MavenFile) -> Path:
    """A pinned file from Maven Central, downloaded once into .tools and checked."""
    target = TOOLS / "maven" / file.repository_path
    if target.is_file():
        return target
    url = MAVEN_CENTRAL + file.repository_path
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            content = response.read()
    except OSError as error:
        raise ToolError(f"download {url}", str(error)) from error
    if hashlib.sha256(content).hexdigest() != file.sha256:
        raise ToolError(f"download {url}", f"its SHA-256 is not the pinned {file.sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    staging.write_bytes(content)
    staging.replace(target)
    return target


def _installed(tool: GoTool) -> Path:
    """The tool's binary, in a directory named for its version that exists only once the
    build in it is complete."""
    directory = TOOLS / "go" / f"{tool.name}-{tool.version}"
    built_once(
        directory,
        lambda staging: _go(
            ["install", "-trimpath", f"-ldflags={tool.ldflags}", f"{tool.package}@{tool.version}"],
            step=f"go install {tool.package}@{tool.version}",
            environment={"GOBIN": str(staging)},
        ),
    )
    return directory / tool.name


def _go(
    arguments: Sequence[str], *, step: str, environment: Mapping[str, str] = NO_VALUES
) -> subprocess.CompletedProcess[str]:
    """Run go from the temporary directory, so no go.mod or go.work nearby changes what it
    resolves."""
    return _run(
        ["go", *arguments],
        step=step,
        cwd=Path(tempfile.gettempdir()),
        environment={**GO_ENVIRONMENT, **environment},
    )


def _run(
    arguments: Sequence[str],
    *,
    step: str,
    cwd: Path | None = None,
    environment: Mapping[str, str] = NO_VALUES,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise naming the step, with the tail of its output."""
    completed = subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, **environment},
    )
    if completed.returncode != 0:
        output = (completed.stderr + completed.stdout).strip().splitlines()
        raise ToolError(step, "\n".join(output[-OUTPUT_TAIL_LINES:]))
    return completed
