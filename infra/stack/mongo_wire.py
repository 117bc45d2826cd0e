"""A MongoDB wire-protocol server: `mongod` when installed, else FerretDB v1 on PostgreSQL.

FerretDB keeps each MongoDB database as a schema of the event store's PostgreSQL
database (its own schemas; the event store's tables stay in `public`). Its SQLite
backend was the first choice, but it serves guarded replaces at a few dozen per second
on a collection of a few thousand documents (each one scans), which bounded every
projection; on PostgreSQL the same replaces run at about a thousand per second.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from infra.stack.component import UrlServer
from infra.stack.errors import StackError
from infra.stack.ferretdb_sessions import ferretdb_postgresql_url
from infra.stack.go_build import GoProgram
from infra.stack.layout import Endpoint

FERRETDB = GoProgram("ferretdb", "github.com/FerretDB/FerretDB", "v1.24.2", "./cmd/ferretdb")


class MongoWire(UrlServer):
    """The read store's server."""

    name = "mongodb"
    start_timeout = 30.0
    url_variable = "LEDGER_MONGODB_URL"
    default_port = 27017

    @property
    def url(self) -> str:
        """The client URL from the settings."""
        return self.settings.mongodb.url.get_secret_value()

    @property
    def mongod(self) -> str | None:
        """Real MongoDB, preferred when it is installed."""
        return shutil.which("mongod")

    @property
    def ferretdb(self) -> Path:
        """Where we build FerretDB."""
        return FERRETDB.path(self.paths)

    def extra_ports(self) -> list[Endpoint]:
        """FerretDB's debug (metrics) listener must be free too."""
        return [] if self.mongod else [self._debug_endpoint()]

    def install(self) -> bool:
        """Build FerretDB once, unless mongod is installed."""
        if self.mongod or FERRETDB.is_built(self.paths):
            return False
        if shutil.which("go") is None:
            raise StackError(self.name, "neither `mongod` nor `go` is on PATH")
        # `go install …@v1.24.2` builds fine but the binary panics at start: the module zip
        # lacks the generated build/version/version.txt.
        FERRETDB.build(self.name, self.paths, patch_source=_add_version_file)
        return True

    def prepare(self) -> None:
        """Data (and FerretDB's state) folders."""
        for folder in ("db",) if self.mongod else ("state",):
            (self.paths.home(self.name) / folder).mkdir(exist_ok=True)

    def command(self) -> list[str]:
        """mongod, or FerretDB with telemetry off (it would report to its vendor otherwise)."""
        home, endpoint = self.paths.home(self.name), self.endpoint
        if self.mongod:
            return [
                *(self.mongod, "--dbpath", str(home / "db")),
                *("--bind_ip", endpoint.host, "--port", str(endpoint.port)),
                *("--unixSocketPrefix", str(home)),
            ]
        return [
            str(self.ferretdb),
            "--handler=postgresql",  # the URL comes from the environment: no password in `ps`
            f"--state-dir={home / 'state'}",
            f"--listen-addr={endpoint}",
            f"--debug-addr={self._debug_endpoint()}",
            "--telemetry=disable",
            # WARN logs a full dump of every refused command, e.g. the `endSessions` that
            # pymongo sends on each close, which FerretDB v1 does not implement.
            "--log-level=error",
        ]

    def environment(self) -> dict[str, str]:
        """The PostgreSQL URL (with FerretDB's session settings), and belt and braces against
        telemetry (the flag, the opt-out)."""
        return {
            **os.environ,
            "DO_NOT_TRACK": "1",
            "FERRETDB_POSTGRESQL_URL": ferretdb_postgresql_url(
                self.settings.postgres.url.get_secret_value()
            ),
        }

    def health(self) -> bool:
        """pymongo gets an answer to `ping` within two seconds.

        FerretDB v1 answers `ping` only after taking a PostgreSQL connection from its pool,
        so a wedged FerretDB (its pool held by a command that never ends) accepts the
        connection and the `hello`, then never answers: without the socket timeout this
        check would wait for ever. The late ping is abandoned by closing the connection,
        which FerretDB does not notice while the command runs (see `infra.readstore.client`).
        """
        client: MongoClient[dict[str, object]] = MongoClient(
            self.url,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=2000,
            retryReads=False,  # one ping, one deadline
        )
        try:
            return client.admin.command("ping").get("ok") == 1
        except PyMongoError:
            return False
        finally:
            client.close()

    def _debug_endpoint(self) -> Endpoint:
        return Endpoint(self.endpoint.host, self.settings.stack.ferretdb_debug_port)


def _add_version_file(source: Path) -> None:
    (source / "build" / "version" / "version.txt").write_text(f"{FERRETDB.version}\n")
