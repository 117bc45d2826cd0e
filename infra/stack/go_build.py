"""Servers the stack builds from the Go module proxy into its `bin` folder (FerretDB, Jaeger)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.stack.errors import StackError
from infra.stack.layout import StackPaths
from infra.stack.processes import run_command

# Cold, Jaeger's build compiles for minutes on two cores; a warm build cache links in seconds.
BUILD_TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class GoProgram:
    """One command of a Go module, pinned at a version, built as `<stack bin>/<binary>`."""

    binary: str
    module: str
    version: str
    package: str

    def path(self, paths: StackPaths) -> Path:
        """Where the built program lives."""
        return paths.bin / self.binary

    def is_built(self, paths: StackPaths) -> bool:
        """The program is there, built at this version (its marker file says which)."""
        return self.path(paths).exists() and _read(self._marker(paths)) == self.version

    def build(
        self,
        component: str,
        paths: StackPaths,
        *,
        patch_source: Callable[[Path], None] | None = None,
        check: tuple[str, ...] = ("--version",),
    ) -> None:
        """Build from a writable copy of the module, run it once with `check`, then mark it.

        A copy, not `go install …@version`: the module cache is read-only, FerretDB's module
        lacks a file its build generates (`patch_source` adds it), and Jaeger's go.mod has
        `replace` directives, which `go install` refuses. The local toolchain only: nothing
        is fetched but the modules.
        """
        if shutil.which("go") is None:
            raise StackError(component, f"`go` is not on PATH; it builds {self.binary}")
        log = paths.log(f"{component}-install")
        module = f"{self.module}@{self.version}"
        download = run_command(component, ["go", "mod", "download", "-json", module], log)
        source = paths.home(component) / f"{self.binary}-src"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(json.loads(download)["Dir"], source)
        for path in (source, *source.rglob("*")):
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        if patch_source is not None:
            patch_source(source)
        environment = {
            **os.environ,
            "GOFLAGS": "-buildvcs=false",
            "GOWORK": "off",
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
        }
        output = str(self.path(paths))
        build = ["go", "build", "-trimpath", "-o", output, self.package]
        run_command(
            component, build, log, env=environment, cwd=source, timeout=BUILD_TIMEOUT_SECONDS
        )
        run_command(component, [output, *check], log)
        shutil.rmtree(source)
        self._marker(paths).write_text(f"{self.version}\n")

    def _marker(self, paths: StackPaths) -> Path:
        return paths.bin / f".{self.binary}-version"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
