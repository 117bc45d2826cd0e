"""PostgreSQL from Debian's packages, run as the `postgres` user on a data dir of our own."""

from __future__ import annotations

import glob
import hashlib
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

from infra.stack.component import UrlServer
from infra.stack.debian import apt_install
from infra.stack.errors import StackError
from infra.stack.layout import write_if_changed
from infra.stack.processes import run_command

SYSTEM_USER = "postgres"
# GIN companions for FerretDB's indexes (ADR 0010); needs the superuser (an event trigger).
READ_STORE_INDEXES_SQL = Path(__file__).with_name("read_store_indexes.sql")
# Used when the postgres user cannot reach the stack dir (a clone under /root, say).
FALLBACK_ROOT = Path("/var/lib/ledger-stack")
# The kernel limits a unix socket path to 107 bytes; stay clear of it.
_MAX_SOCKET_PATH = 100

# psql variables keep the names and the password quoted by the server, not by us.
_BOOTSTRAP_SQL = """\
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \\gexec
"""
# In the role's database: statement statistics it may read and reset (for profiling).
_STATISTICS_SQL = """\
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
GRANT pg_read_all_stats TO :"role";
GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO :"role";
"""


class PostgreSQL(UrlServer):
    """The event store's server."""

    name = "postgres"
    start_timeout = 60.0
    stop_timeout = 30.0
    # SIGINT is a fast shutdown; SIGTERM ("smart") would wait for every client to disconnect.
    stop_signal = signal.SIGINT
    url_variable = "LEDGER_POSTGRES_URL"
    default_port = 5432

    @property
    def url(self) -> str:
        """The client URL from the settings."""
        return self.settings.postgres.url.get_secret_value()

    def install(self) -> bool:
        """Install the Debian package if needed and run initdb once."""
        installed = False
        if not _installed_versions():
            apt_install(self.name, "postgresql", self.paths.log("apt"))
            installed = True
        if (self.data_dir / "PG_VERSION").exists():
            return installed
        self._initdb()
        return True

    def command(self) -> list[str]:
        """`postgres` in the foreground, with every setting that matters on its command line."""
        settings = {
            "listen_addresses": self.endpoint.host,
            "port": str(self.endpoint.port),
            "unix_socket_directories": str(self.socket_dir),
            # Durability is a requirement: never trade it for speed, even locally.
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "max_connections": "200",
            # Statement statistics for profiling (`pg_stat_statements`; `make bench` prints
            # the statements a command costs). Its overhead is a few per cent at most.
            "shared_preload_libraries": "pg_stat_statements",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), *options]

    def run_as(self) -> str:
        """The server refuses to run as root."""
        return SYSTEM_USER

    def prepare(self) -> None:
        """The socket dir must exist and belong to the postgres user."""
        _make_owned_dir(self.socket_dir, mode=0o755)

    def ready(self) -> bool:
        """The server accepts connections (pg_isready needs no role or password)."""
        probe = [str(self.bin_dir / "pg_isready"), "-q", "-t", "2"]
        probe += ["-h", self.endpoint.host, "-p", str(self.endpoint.port)]
        return subprocess.run(probe, check=False).returncode == 0

    def health(self) -> bool:
        """The configured role can log in and run a query."""
        try:
            with psycopg.connect(self.url, connect_timeout=3) as connection:
                return connection.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def ensure(self) -> None:
        """Create the role and database from the URL when missing; keep the read-store indexes.

        FerretDB keeps the read store in the same database (`mongo_wire`), so that database
        gets the event trigger that gives every FerretDB index a GIN companion its SQL can
        use (`read_store_indexes.sql`, ADR 0010), and the companions of indexes made before.
        """
        parts = urlsplit(self.url)
        role, password = unquote(parts.username or "ledger"), unquote(parts.password or "")
        database = parts.path.lstrip("/") or role
        log = self.paths.log("postgres-setup")
        bootstrap = self._psql(
            "postgres",
            *("-v", f"role={role}", "-v", f"password={password}", "-v", f"database={database}"),
        )
        run_command(self.name, bootstrap, log, stdin_text=_BOOTSTRAP_SQL)
        indexes = self._psql(database, "--single-transaction")
        run_command(self.name, indexes, log, stdin_text=READ_STORE_INDEXES_SQL.read_text())
        statistics = self._psql(database, "-v", f"role={role}")
        run_command(self.name, statistics, log, stdin_text=_STATISTICS_SQL)

    def _psql(self, database: str, *options: str) -> list[str]:
        """psql as the superuser over the unix socket, reading its script from stdin."""
        return [
            *_as_postgres(),
            str(self.bin_dir / "psql"),
            *("-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database),
            *("-h", str(self.socket_dir), "-p", str(self.endpoint.port)),
            *options,
            *("-f", "-"),
        ]

    @property
    def base_dir(self) -> Path:
        """Data and socket dirs live here; chosen once and recorded in the stack dir."""
        record = self.paths.home(self.name) / "location"
        if record.exists():
            return Path(record.read_text().strip())
        base = self.paths.home(self.name)
        if not _postgres_can_reach(base):
            digest = hashlib.sha256(str(self.paths.root).encode()).hexdigest()[:12]
            base = FALLBACK_ROOT / digest
        write_if_changed(record, f"{base}\n")
        return base

    @property
    def data_dir(self) -> Path:
        """PGDATA."""
        base = self.base_dir
        return base / ("data" if base.is_relative_to(self.paths.root) else "pgdata")

    @property
    def socket_dir(self) -> Path:
        """The unix socket dir (local admin connections use peer authentication)."""
        socket_dir = self.base_dir / "run"
        if len(str(socket_dir)) + len("/.s.PGSQL.65535") > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.paths.root).encode()).hexdigest()[:12]
            socket_dir = FALLBACK_ROOT / digest / "run"
        return socket_dir

    @property
    def bin_dir(self) -> Path:
        """The binaries matching the data dir's version, else the newest installed."""
        versions = _installed_versions()
        if not versions:
            raise StackError(self.name, "no /usr/lib/postgresql/*/bin/initdb; install failed?")
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            wanted = version_file.read_text().strip()
            if wanted not in versions:
                raise StackError(
                    self.name,
                    f"{self.data_dir} was made by PostgreSQL {wanted}, which is not installed "
                    f"(have {', '.join(versions)}); install it or delete the data dir",
                )
            return Path(f"/usr/lib/postgresql/{wanted}/bin")
        return Path(f"/usr/lib/postgresql/{versions[-1]}/bin")

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StackError(self.name, f"{self.data_dir} is not empty but has no PG_VERSION")
        _make_owned_dir(self.data_dir, mode=0o700)
        initdb = [
            *_as_postgres(),
            str(self.bin_dir / "initdb"),
            *("-D", str(self.data_dir), "--username", SYSTEM_USER),
            *("--auth-local", "peer", "--auth-host", "scram-sha-256"),
            *("--encoding", "UTF8", "--no-locale", "--no-instructions"),
        ]
        run_command(self.name, initdb, self.paths.log("postgres-setup"))


def _installed_versions() -> list[str]:
    """Installed server versions, oldest first (numerically: 9.6 < 15 < 16)."""
    found = [
        Path(path).parent.parent.name for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
    ]
    return sorted(found, key=lambda version: tuple(int(part) for part in version.split(".")))


def _as_postgres() -> list[str]:
    return ["runuser", "-u", SYSTEM_USER, "--"]


def _postgres_can_reach(folder: Path) -> bool:
    """Whether the postgres user can traverse every directory down to `folder`."""
    probe = [*_as_postgres(), "test", "-x", str(folder)]
    return subprocess.run(probe, check=False, cwd="/").returncode == 0


def _make_owned_dir(folder: Path, mode: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Under a restrictive umask our fallback parents would be 0700: postgres must traverse them.
    for parent in folder.parents:
        if parent == FALLBACK_ROOT or parent.is_relative_to(FALLBACK_ROOT):
            parent.chmod(0o755)
    account = pwd.getpwnam(SYSTEM_USER)
    shutil.chown(folder, account.pw_uid, account.pw_gid)
    folder.chmod(mode)
