"""The local stack on its real servers: `up`, `status`, pid files, and a round trip to each."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import time
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import MongoClient
from rich.console import Console

from infra.settings import Settings
from infra.stack.layout import Endpoint
from infra.stack.lifecycle import stack_status, stack_up
from infra.stack.processes import is_running, read_record, start_process, stop_process

pytestmark = pytest.mark.integration

EXTERNAL_WHEN_SET = {"postgres": "LEDGER_POSTGRES_URL", "mongodb": "LEDGER_MONGODB_URL"}


@pytest.fixture(scope="session")
def running_stack() -> Settings:
    """The stack, started once per session and left running for the tests that follow."""
    settings = Settings()
    stack_up(settings)
    return settings


def _expected_state(component: str) -> str:
    return "external" if EXTERNAL_WHEN_SET.get(component, "") in os.environ else "up"


def _ours(component: str) -> bool:
    return _expected_state(component) == "up"


def test_status_reports_every_component_up_after_up(running_stack: Settings) -> None:
    states = {status.name: status.state for status in stack_status(running_stack)}

    assert states == {name: _expected_state(name) for name in states}
    assert set(states) == {"postgres", "kafka", "mongodb", "redis", "jaeger", "nginx"}


def test_up_when_already_up_prints_one_line_and_returns_quickly(running_stack: Settings) -> None:
    output = io.StringIO()
    began = time.monotonic()

    stack_up(running_stack, console=Console(file=output, width=200))

    assert time.monotonic() - began < 5
    lines = output.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("stack: already up:")


def test_up_when_already_up_restarts_nothing(running_stack: Settings) -> None:
    before = {status.name: status.detail for status in stack_status(running_stack)}

    stack_up(running_stack, console=Console(file=io.StringIO()))

    assert {status.name: status.detail for status in stack_status(running_stack)} == before


def test_postgres_answers_a_query_as_the_configured_role(running_stack: Settings) -> None:
    with psycopg.connect(running_stack.postgres.url.get_secret_value()) as connection:
        row = connection.execute("SELECT 1, current_user").fetchone()

    assert row is not None
    assert row[0] == 1
    if _ours("postgres"):
        assert row[1] == "ledger"


def test_the_configured_role_can_create_databases(running_stack: Settings) -> None:
    database = f"stack_test_{uuid4().hex[:12]}"
    url = running_stack.postgres.url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
        try:
            found = connection.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
        finally:
            connection.execute(f'DROP DATABASE "{database}"')

    assert found == (1,)


def test_our_postgres_commits_durably_and_listens_on_loopback_only(
    running_stack: Settings,
) -> None:
    if not _ours("postgres"):
        pytest.skip("LEDGER_POSTGRES_URL points at a server we do not configure")
    names = ("fsync", "synchronous_commit", "full_page_writes", "listen_addresses")
    with psycopg.connect(running_stack.postgres.url.get_secret_value()) as connection:
        values = {name: connection.execute(f"SHOW {name}").fetchone() for name in names}
        max_connections = connection.execute("SHOW max_connections").fetchone()

    assert values == {
        "fsync": ("on",),
        "synchronous_commit": ("on",),
        "full_page_writes": ("on",),
        "listen_addresses": ("127.0.0.1",),
    }
    assert max_connections == ("200",)


def test_mongodb_wire_server_answers_ping(running_stack: Settings) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        running_stack.mongodb.url.get_secret_value(), serverSelectionTimeoutMS=5000
    )
    try:
        reply = client.admin.command("ping")
    finally:
        client.close()

    assert reply["ok"] == 1


def test_mongodb_wire_server_round_trips_a_document(running_stack: Settings) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        running_stack.mongodb.url.get_secret_value(), serverSelectionTimeoutMS=5000
    )
    database = f"stack_test_{uuid4().hex[:12]}"
    try:
        collection = client[database]["documents"]
        collection.insert_one({"_id": "doc-1", "balance": 1250, "currency": "EUR"})
        found = collection.find_one({"_id": "doc-1"})
    finally:
        client.drop_database(database)
        client.close()

    assert found == {"_id": "doc-1", "balance": 1250, "currency": "EUR"}


async def test_kafka_round_trips_a_message_on_a_unique_topic(running_stack: Settings) -> None:
    bootstrap = running_stack.kafka.bootstrap_servers
    topic = f"stack.test.{uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello", key=b"account-1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
    finally:
        await admin.delete_topics([topic])
        await admin.close()

    assert (message.key, message.value) == (b"account-1", b"hello")


async def test_kafka_has_the_events_topic_with_the_configured_partitions(
    running_stack: Settings,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=running_stack.kafka.bootstrap_servers)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([running_stack.kafka.topic])
    finally:
        await admin.close()

    assert description["error_code"] == 0
    assert len(description["partitions"]) == running_stack.kafka.partitions


def test_redis_answers_ping(running_stack: Settings) -> None:
    endpoint = Endpoint.from_url(running_stack.redis.url.get_secret_value(), 6379)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = connection.recv(64)

    assert reply == b"+PONG\r\n"


def test_a_pid_file_whose_pid_was_reused_is_neither_running_nor_stopped(tmp_path: Path) -> None:
    pid_path, log_path = tmp_path / "sleeper.pid", tmp_path / "sleeper.log"
    process = start_process("sleeper", ["sleep", "60"], None, log_path, pid_path)
    try:
        record = read_record(pid_path)
        assert record is not None
        # Same pid, different start time: what a pid file looks like after the pid was reused.
        stale = {"pid": record.pid, "start_ticks": record.start_ticks - 1, "argv": record.argv}
        pid_path.write_text(json.dumps(stale))

        assert not is_running(pid_path)
        assert not stop_process(pid_path, timeout=1)
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_stop_process_ends_the_whole_process_group(tmp_path: Path) -> None:
    pid_path, log_path = tmp_path / "family.pid", tmp_path / "family.log"
    start_process("family", ["sh", "-c", "sleep 60 & sleep 60"], None, log_path, pid_path)
    record = read_record(pid_path)
    assert record is not None

    assert stop_process(pid_path, timeout=5)

    assert not is_running(pid_path)
    assert _members_of_group(record.pid) == []


def _members_of_group(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
