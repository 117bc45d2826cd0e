"""The container image without Docker: replay the Dockerfile's build stage for real.

No Docker engine runs here, so the build stage's own instructions (its COPY lines from the
build context, ENV, WORKDIR and `uv sync` runs) are replayed under a temporary root with
the project's pinned uv. The installed virtualenv is then run the way the runtime stage
runs it: the source tree deleted, the runtime stage's environment, its working directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from string import Template

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UV = ROOT / ".tools" / "bin" / "uv"
UV_IMAGE = "ghcr.io/astral-sh/uv:"
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
COMMAND_SECONDS = 120

# Resolve every console script of the installed distribution without calling it.
RESOLVE_ENTRY_POINTS = """
import importlib, importlib.metadata, json
found = {}
for entry_point in importlib.metadata.distribution("ledger").entry_points:
    if entry_point.group == "console_scripts":
        function = entry_point.load()
        module = importlib.import_module(entry_point.module)
        found[entry_point.name] = [entry_point.value, callable(function), module.__file__]
print(json.dumps(found))
"""


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str


@dataclass(frozen=True)
class Image:
    """The replayed build under a temporary root, and how the runtime stage runs it."""

    root: Path
    install: Path
    environment: dict[str, str]
    workdir: Path


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, comments dropped."""
    result = []
    for line in re.sub(r"\\[ \t]*\n", " ", text).splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def stages() -> dict[str, list[Instruction]]:
    """Each stage's instructions, its FROM first, by stage name, in the Dockerfile's order."""
    result: dict[str, list[Instruction]] = {}
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(result))
            result[name] = []
        result[list(result)[-1]].append(instruction)
    return result


def copies(stage: list[Instruction]) -> list[tuple[str, list[str]]]:
    """Each COPY of the stage as (the stage or image it copies from, or "", its paths)."""
    result = []
    for instruction in stage:
        if instruction.keyword == "COPY":
            words = shlex.split(instruction.arguments)
            origins = [word.removeprefix("--from=") for word in words if word[:7] == "--from="]
            paths = [word for word in words if not word.startswith("--")]
            result.append((origins[0] if origins else "", paths))
    return result


def runtime_and_build_stages() -> tuple[list[Instruction], list[Instruction]]:
    """The last stage, and the stage it copies from."""
    named = stages()
    runtime = list(named.values())[-1]
    [origin] = {origin for origin, _ in copies(runtime)}
    return runtime, named[origin]


def in_root(root: Path, path: str, workdir: Path) -> Path:
    """A path of the image, under the temporary root that stands for its `/`."""
    return root / path.lstrip("/") if path.startswith("/") else workdir / path


def with_env(environment: dict[str, str], instruction: Instruction, root: Path) -> dict[str, str]:
    """`environment` after an ENV: `$NAME` expanded, absolute paths moved under `root`."""
    result = dict(environment)
    for word in shlex.split(instruction.arguments):
        name, separator, value = word.partition("=")
        assert separator, f"ENV {word!r}: only the NAME=value form is replayed"
        parts = value.split(os.pathsep)
        if all(part[:1] in {"/", "$"} for part in parts):  # a path or a list of paths
            moved = [str(in_root(root, part, root)) if part[:1] == "/" else part for part in parts]
            value = os.pathsep.join(moved)
        result[name] = Template(value).safe_substitute(result)
    return result


def host_environment() -> dict[str, str]:
    """This process's environment without anything that steers Python, uv or Ledger."""
    steering = ("LEDGER_", "UV_", "PYTHON", "VIRTUAL_ENV")
    return {name: value for name, value in os.environ.items() if not name.startswith(steering)}


def run(argv: list[str], environment: dict[str, str], cwd: Path) -> str:
    """Run a command to completion: its output, or a failure that shows it."""
    result = subprocess.run(
        argv, env=environment, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_SECONDS
    )
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def copy_from_context(paths: list[str], root: Path, workdir: Path) -> None:
    """COPY sources from the project (the build context) to their destination."""
    *sources, destination = paths
    target = in_root(root, destination, workdir)
    into_folder = destination.endswith("/") or destination in {".", "./"} or len(sources) > 1
    ignored = [line[3:] for line in DOCKERIGNORE.read_text().splitlines() if line[:3] == "**/"]
    for source in sources:
        copied = target / Path(source).name if into_folder else target
        copied.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, copied, ignore=shutil.ignore_patterns(*ignored))
        else:
            shutil.copy2(ROOT / source, copied)


def replay(stage: list[Instruction], root: Path) -> tuple[Path, Path]:
    """Replay the build stage under `root` with the pinned uv: (its install, its workdir)."""
    version = re.search(r"python:(\d+\.\d+)", stage[0].arguments)
    assert version, f"the build stage's base is not a Python image: {stage[0].arguments}"
    environment = {**host_environment(), "UV_PYTHON": version.group(1)}
    workdir = root
    for instruction in stage[1:]:
        if instruction.keyword == "ENV":
            environment = with_env(environment, instruction, root)
        elif instruction.keyword == "WORKDIR":
            workdir = in_root(root, instruction.arguments, workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            [(origin, paths)] = copies([instruction])
            if not origin:  # the uv binary (its version is checked below) is the pinned one
                copy_from_context(paths, root, workdir)
        elif instruction.keyword == "RUN":
            words = shlex.split(instruction.arguments)
            while words and words[0].startswith("--"):  # RUN's own flags: --mount=…
                words.pop(0)
            if words[:2] != ["uv", "sync"]:
                pytest.fail(f"cannot replay without Docker: RUN {instruction.arguments}")
            run([str(UV), *words[1:]], environment, workdir)
        elif instruction.keyword not in {"LABEL", "ARG"}:
            pytest.fail(f"cannot replay without Docker: {instruction.keyword}")
    return Path(environment["UV_PROJECT_ENVIRONMENT"]), workdir


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The build stage replayed once, its sources then deleted, set up as the runtime runs."""
    runtime, build = runtime_and_build_stages()
    root = tmp_path_factory.mktemp("image")
    install, sources = replay(build, root)
    assert not install.is_relative_to(sources)
    shutil.rmtree(sources)
    environment = {**host_environment(), "HOME": str(root / "nonexistent")}
    workdir = root
    for instruction in runtime:
        if instruction.keyword == "ENV":
            environment = with_env(environment, instruction, root)
        elif instruction.keyword == "WORKDIR":
            workdir = in_root(root, instruction.arguments, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return Image(root, install, environment, workdir)


def command(stage: list[Instruction]) -> list[str]:
    """The stage's CMD, in its exec (JSON) form."""
    [line] = [instruction.arguments for instruction in stage if instruction.keyword == "CMD"]
    argv: list[str] = json.loads(line)
    return argv


def site_packages(install: Path) -> Path:
    """The virtualenv's site-packages folder."""
    [folder] = install.glob("lib/python3.*/site-packages")
    return folder


def test_every_console_script_is_installed_on_the_images_path(image: Image) -> None:
    path = image.environment["PATH"]

    for name in SCRIPTS:
        assert shutil.which(name, path=path) == str(image.install / "bin" / name), name


def test_every_console_script_resolves_to_a_function_of_the_installed_package(
    image: Image,
) -> None:
    output = run(
        [str(image.install / "bin" / "python"), "-c", RESOLVE_ENTRY_POINTS],
        image.environment,
        image.workdir,
    )
    found = json.loads(output)

    assert {name: value for name, (value, _, _) in found.items()} == SCRIPTS
    for name, (_, is_callable, module_file) in found.items():
        assert is_callable, name
        assert Path(module_file).is_relative_to(site_packages(image.install)), module_file


def test_the_project_is_installed_as_a_regular_package_not_an_editable_one(image: Image) -> None:
    folder = site_packages(image.install)
    [record] = folder.glob("ledger-*.dist-info/direct_url.json")

    assert not json.loads(record.read_text()).get("dir_info", {}).get("editable", False)
    for path_file in folder.glob("*.pth"):
        assert str(image.root) not in path_file.read_text(), path_file
        assert str(ROOT) not in path_file.read_text(), path_file


def test_the_images_default_command_runs(image: Image) -> None:
    runtime, _ = runtime_and_build_stages()

    output = run(command(runtime), image.environment, image.workdir)

    assert "migrate" in output


def test_the_ledger_command_writes_nothing_under_the_install(image: Image) -> None:
    # The root filesystem is read-only under Kubernetes; `ledger` keeps the local issuer's
    # key in the stack folder, which the runtime stage moves to /tmp.
    before = {path: path.stat().st_mtime_ns for path in image.install.rglob("*")}

    run(["ledger", "migrate", "--help"], image.environment, image.workdir)

    assert {path: path.stat().st_mtime_ns for path in image.install.rglob("*")} == before


def test_the_build_stage_uses_the_uv_the_project_pins() -> None:
    _, build = runtime_and_build_stages()
    pinned = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    images = [origin for origin, _ in copies(build) if origin.startswith(UV_IMAGE)]

    assert pinned
    assert images == [UV_IMAGE + pinned.group(1)]


def test_the_build_context_keeps_every_source_the_build_stage_copies() -> None:
    _, build = runtime_and_build_stages()
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    excluded = [line for line in lines if line and not line.startswith("#")]
    sources = [source for origin, paths in copies(build) if not origin for source in paths[:-1]]

    for source in sources:
        assert not any(fnmatch(source, pattern) for pattern in excluded), source


def test_the_runtime_stage_takes_only_the_virtualenv_from_the_build_stage() -> None:
    runtime, build = runtime_and_build_stages()
    install = [
        word.partition("=")[2]
        for instruction in build
        if instruction.keyword == "ENV"
        for word in shlex.split(instruction.arguments)
        if word.startswith("UV_PROJECT_ENVIRONMENT=")
    ]

    assert [paths for _, paths in copies(runtime)] == [[install[-1], install[-1]]]


def test_the_image_runs_as_a_numeric_user_other_than_root() -> None:
    runtime, _ = runtime_and_build_stages()
    [user] = [instruction.arguments for instruction in runtime if instruction.keyword == "USER"]

    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user)
