"""Run background processes through pid files: start, recognise, stop, and wait for them."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.stack.errors import StackError

_LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file holds: enough to tell our process from a later one that reused its pid."""

    pid: int
    start_ticks: int
    argv: list[str]


def start_process(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    log_path: Path,
    pid_path: Path,
    *,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session, append its output to `log_path`, record it in `pid_path`."""
    if is_running(pid_path):
        raise StackError(name, f"already running (pid file {pid_path})")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    account = None if user is None else pwd.getpwnam(user)
    if account is not None:
        child_env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    with log_path.open("ab") as log:
        log.write(f"\n=== {_now()} starting {name}: {shlex.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=cwd or "/",
            # Its own session: Ctrl-C in our terminal must not reach it, and stop_process
            # can signal the whole group (pgid == pid).
            start_new_session=True,
            user=None if account is None else account.pw_uid,
            group=None if account is None else account.pw_gid,
            # An empty list drops root's supplementary groups instead of inheriting them.
            extra_groups=None if account is None else [],
        )
    # Read the start time before anything can reap the child, so the pid cannot be reused yet.
    record = ProcessRecord(process.pid, _start_ticks(process.pid) or -1, list(argv))
    _write_record(pid_path, record)
    # Reap it when it exits so it never lingers as a zombie of a long-lived parent (pytest).
    threading.Thread(target=process.wait, name=f"reap-{name}", daemon=True).start()
    return process


def record_this_process(pid_path: Path) -> None:
    """Record the calling process in `pid_path`, as `start_process` records its children."""
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    argv = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")
    command = [part.decode(errors="replace") for part in argv if part]
    _write_record(pid_path, ProcessRecord(os.getpid(), _start_ticks(os.getpid()) or -1, command))


def is_running(pid_path: Path) -> bool:
    """Whether the process recorded in `pid_path` is alive and is the one we started."""
    record = read_record(pid_path)
    return record is not None and _is_alive(record)


def read_record(pid_path: Path) -> ProcessRecord | None:
    """The process recorded in `pid_path`, or None when there is no readable pid file."""
    try:
        raw = json.loads(pid_path.read_text())
        return ProcessRecord(int(raw["pid"]), int(raw["start_ticks"]), list(raw["argv"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_process(
    pid_path: Path, timeout: float, *, stop_signal: signal.Signals = signal.SIGTERM
) -> bool:
    """Signal the recorded process group, SIGKILL it after `timeout`; True if it was running."""
    record = read_record(pid_path)
    if record is None or not _is_alive(record):
        pid_path.unlink(missing_ok=True)
        return False
    # Only after checking the start time do we trust the pid: a recycled pid is never signalled.
    _signal_group(record.pid, stop_signal)
    deadline = time.monotonic() + timeout
    while _is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_alive(record):
        _signal_group(record.pid, signal.SIGKILL)
    # Helpers it forked stay in its group; the group exists while they live, so its id is ours.
    if _group_members(record.pid):
        _signal_group(record.pid, signal.SIGKILL)
    for _ in range(50):
        if not _is_alive(record) and not _group_members(record.pid):
            break
        time.sleep(0.1)
    pid_path.unlink(missing_ok=True)
    return True


def wait_until(check: Callable[[], bool], deadline: float, what: str) -> None:
    """Poll `check` until it returns True; raise TimeoutError after `deadline` seconds."""
    give_up_at = time.monotonic() + deadline
    pause = 0.05
    while not check():
        if time.monotonic() >= give_up_at:
            raise TimeoutError(f"gave up after {deadline:.0f}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def run_command(
    component: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin_text: str | None = None,
    timeout: float = 600,
) -> str:
    """Run a one-shot command to completion, logging its output; raise StackError on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {_now()} {component}: {shlex.join(argv)}\n".encode())
    try:
        result = subprocess.run(
            list(argv),
            input=stdin_text,
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            cwd=cwd or "/",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise StackError(component, f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise StackError(
            component, f"`{shlex.join(argv)}` timed out after {timeout:.0f}s\n{tail(log_path)}"
        ) from None
    with log_path.open("a") as log:
        log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise StackError(
            component,
            f"`{shlex.join(argv)}` exited with code {result.returncode}\n{tail(log_path)}",
        )
    return result.stdout


def tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of a log file, headed by its path, for error messages."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return f"(no log at {log_path})"
    # Only the latest run: earlier ones (each headed by a "=== …" banner) explain nothing now.
    text = text[text.rfind("\n=== ") + 1 :]
    last = text.rstrip("\n").splitlines()[-lines:]
    return f"last {len(last)} lines of {log_path}:\n" + "\n".join(f"  | {line}" for line in last)


def _is_alive(record: ProcessRecord) -> bool:
    stat = _read_stat(record.pid)
    # A zombie has exited; only its exit status is left for the parent to collect.
    return stat is not None and stat[0] not in ("Z", "X") and int(stat[19]) == record.start_ticks


def _start_ticks(pid: int) -> int | None:
    stat = _read_stat(pid)
    return None if stat is None else int(stat[19])


def _read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (the command name may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None and stat[0] != "Z" and int(stat[2]) == pgid:
                members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal_number)


def _write_record(pid_path: Path, record: ProcessRecord) -> None:
    temporary = pid_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record.__dict__))
    temporary.replace(pid_path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
