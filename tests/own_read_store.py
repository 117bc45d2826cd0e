"""A read store of a test's own: FerretDB on a free port, over the test's own PostgreSQL
database, for tests that may wedge it (the shared one serves every other test)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymongo import MongoClient, ReplaceOne
from pymongo.errors import NetworkTimeout

from infra.settings import Settings
from infra.stack.layout import StackPaths
from infra.stack.mongo_wire import MongoWire
from tests.network import free_port


def seed_ferretdb(folder: Path) -> None:
    """Copy the default stack's FerretDB build into `folder`, when it has one: building it
    again takes minutes; its version marker still lets `up` check it."""
    source = Settings().stack.dir / "bin"
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("ferretdb", ".ferretdb-version"):
        if (source / name).exists():
            shutil.copy2(source / name, folder / "bin" / name)


def own_read_store_settings(base: Settings, folder: Path) -> Settings:
    """`base` with a read store of its own on a free port, run by the stack in `folder`.

    FerretDB keeps its data in `base.postgres`'s database, which a test's settings own.
    """
    seed_ferretdb(folder)
    url = SecretStr(f"mongodb://127.0.0.1:{free_port()}/")
    return base.model_copy(
        update={
            "mongodb": base.mongodb.model_copy(update={"url": url}),
            "stack": base.stack.model_copy(
                update={
                    "dir": folder,
                    "ferretdb_debug_port": free_port(),
                    "managed_servers": "mongodb",
                }
            ),
        }
    )


@contextmanager
def own_read_store(base: Settings, folder: Path) -> Iterator[tuple[Settings, MongoWire]]:
    """Start a read store of its own (see `own_read_store_settings`); stop it afterwards."""
    settings = own_read_store_settings(base, folder)
    server = MongoWire(settings, StackPaths.create(folder))
    server.up()
    try:
        yield settings, server
    finally:
        server.down()


# One bulk of this many `ReplaceOne` by `_id`, from any client, and FerretDB v1.24.2 never
# answers again: each statement holds a PostgreSQL connection of its pool until the
# whole command ends, and the last one waits for a free connection for ever.
WEDGING_BULK = 50


def send_wedging_bulk(url: str, *, wait_seconds: float = 2.0, within: float = 60.0) -> bool:
    """Send what an outside client once sent: `WEDGING_BULK` documents, then one bulk that
    replaces each by `_id`. True once a ping then gets no answer within `wait_seconds`
    (wedged), False if the bulk is answered or pings still answer after `within` seconds.

    The bulk's client gives up after `wait_seconds`, yet the server goes on with it (it
    does not see the close): under load it reaches the wedge seconds later, hence the pings.
    """
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, socketTimeoutMS=round(wait_seconds * 1000), retryWrites=False, retryReads=False
    )
    try:
        scratch = client["outside_client"]["scratch"]
        scratch.drop()
        scratch.insert_many([{"_id": n, "value": 0} for n in range(WEDGING_BULK)])
        try:
            scratch.bulk_write(
                [ReplaceOne({"_id": n}, {"value": 1}) for n in range(WEDGING_BULK)], ordered=False
            )
        except NetworkTimeout:
            give_up_at = time.monotonic() + within
            while time.monotonic() < give_up_at:
                try:
                    client.admin.command("ping")
                except NetworkTimeout:
                    return True
        return False
    finally:
        client.close()
