"""The operator endpoints on projections, through the query API on the real stack.

No projector runs here, so a pause or a hold finds each consumer group empty at once;
the operator lock is a real PostgreSQL advisory lock held by the test where it matters.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.messaging.kafka import ensure_topic
from infra.security.auth import TokenVerifier
from infra.settings import Settings
from projectors.engine.dead_letters import DeadLetters, RawRecord
from projectors.engine.routing import routing_topic
from projectors.engine.writers import writer_for
from projectors.operations import rebuild as rebuild_engine
from projectors.operations.catalog import ProjectionCatalog
from projectors.operations.operations import ProjectionOperations
from projectors.projections.projection import ProjectionGapError
from projectors.projections.registry import PROJECTIONS
from query_api.admin.worker import THREAD_NAME
from query_api.app import create_app
from tests.auth_fixtures import (
    bearer,
    create_client,
    fetch_token,
    issuer_in_process,
    with_local_issuer,
)
from tests.integration import synthetic_log
from tests.unit.factories import envelope
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
ADMIN = "/v1/admin/projections"


@pytest.fixture
async def topics(isolated_settings: Settings) -> Settings:
    """The test's events and routing topics exist (lag is read from their end offsets)."""
    await ensure_topic(isolated_settings.kafka)
    await ensure_topic(isolated_settings.kafka, routing_topic(isolated_settings.kafka.topic))
    return isolated_settings


@pytest.fixture
async def client(topics: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with query_client(topics) as started:
        yield started


@pytest.fixture
def operations(isolated_settings: Settings, mongo_database: Database) -> ProjectionOperations:
    """Another operator, acting beside the API (as `ledger projections …` would)."""
    return ProjectionOperations(isolated_settings, mongo_database, PROJECTIONS)


def problem(response: httpx.Response, status: int) -> str:
    """The problem's slug, after checking it is a problem with that status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return str(body["type"]).rsplit("/", 1)[-1]


def opened(account: UUID) -> EventEnvelope:
    return envelope(
        "AccountOpened", account, 1, owner_id=str(uuid4()), currency="EUR", overdraft_limit=0
    )


def deposited(account: UUID, version: int, balance_after: int) -> EventEnvelope:
    return envelope(
        "FundsDeposited",
        account,
        version,
        amount=balance_after,
        currency="EUR",
        reference="r",
        channel="api",
        balance_after=balance_after,
    )


async def dead_letter_of(database: Database, projection: str, event: EventEnvelope) -> str:
    """Try the event on the projection's live build; keep it as a letter, as a worker would."""
    writer = writer_for(PROJECTIONS[projection], database)
    with pytest.raises(ProjectionGapError) as failure:
        await writer.apply([event])
    await DeadLetters(database).record_event(projection, event, failure.value, attempts=3)
    return f"{projection}:{event.event_id}"


async def test_the_status_lists_every_projection_running_at_its_first_build(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(ADMIN)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["name"] for item in items] == sorted(PROJECTIONS)
    assert {(item["state"], item["version"], item["generation"]) for item in items} == {
        ("running", 1, 1)
    }
    assert {item["lag_events"] for item in items} == {0}
    assert all(item["rebuild"] is None and item["dead_letters"] == 0 for item in items)


async def test_pausing_then_resuming_flips_the_state(client: httpx.AsyncClient) -> None:
    paused = await client.post(f"{ADMIN}/accounts/pause")
    after_pause = await client.get(f"{ADMIN}/accounts")
    resumed = await client.post(f"{ADMIN}/accounts/resume")

    assert (paused.status_code, paused.json()["state"]) == (200, "paused")
    assert after_pause.json()["state"] == "paused"
    assert (resumed.status_code, resumed.json()["state"]) == (200, "running")


async def test_pausing_one_projection_leaves_the_others_running(
    client: httpx.AsyncClient,
) -> None:
    await client.post(f"{ADMIN}/transfers/pause")

    states = {item["name"]: item["state"] for item in (await client.get(ADMIN)).json()["items"]}

    assert states.pop("transfers") == "paused"
    assert set(states.values()) == {"running"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/nope/pause"),
        ("POST", "/nope/resume"),
        ("POST", "/nope/rebuild"),
        ("GET", "/nope/dead-letters"),
        ("POST", "/nope/dead-letters/discard"),
    ],
)
async def test_an_unknown_projection_is_a_not_found_problem(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, f"{ADMIN}{path}")

    assert problem(response, 404) == "projection-not-found"
    assert "accounts" in response.json()["detail"]  # it names the known ones


async def test_a_reset_to_a_negative_position_is_a_validation_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{ADMIN}/accounts/reset", json={"to_position": -1})

    assert problem(response, 422) == "validation-error"
    assert "to_position" in response.json()["detail"]


async def test_a_reset_sets_every_partitions_offset(
    client: httpx.AsyncClient, topics: Settings
) -> None:
    response = await client.post(f"{ADMIN}/accounts/reset", json={"to_position": 0})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["to_position"]) == ("accounts", 0)
    topic = topics.kafka.topic
    assert body["offsets"] == {f"{topic}:{p}": 0 for p in range(topics.kafka.partitions)}
    assert (await client.get(f"{ADMIN}/accounts")).json()["state"] == "running"  # hold lifted


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/accounts/reset", {"to_position": 0}),
        ("/accounts/rebuild", None),
        ("/accounts/dead-letters/retry", None),
    ],
)
async def test_a_command_while_another_operator_holds_the_projection_is_a_conflict(
    client: httpx.AsyncClient,
    operations: ProjectionOperations,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    async with operations.exclusive("accounts"):
        response = await client.post(f"{ADMIN}{path}", json=body)

    assert problem(response, 409) == "operation-in-progress"


async def test_a_rebuild_is_accepted_runs_in_the_background_and_switches_readers(
    client: httpx.AsyncClient, topics: Settings
) -> None:
    synthetic_log.load(topics, events=300, accounts=3)

    accepted = await client.post(f"{ADMIN}/accounts/rebuild", json={"grace_seconds": 0})
    again = await client.post(f"{ADMIN}/accounts/rebuild")
    location = accepted.headers["location"]
    report = await wait_for_rebuild(client, location)

    assert accepted.status_code == 202, accepted.text
    assert location == f"{ADMIN}/accounts" == accepted.json()["location"]
    assert problem(again, 409) == "operation-in-progress"
    task = report["rebuild_task"]
    assert (task["status"], task["applied"], task["build"]) == ("succeeded", 300, "accounts_v1_g2")
    assert (report["generation"], report["collection"], report["rebuild"]) == (
        2,
        "accounts_v1_g2",
        None,
    )
    accounts = (await client.get("/v1/accounts")).json()["items"]
    assert [(a["version"], a["balance"]) for a in accounts] == [(100, 7)] * 3


async def test_a_rebuild_cut_short_by_shutdown_resumes_when_started_again(
    topics: Settings, operations: ProjectionOperations, mongo_database: Database
) -> None:
    synthetic_log.load(topics, events=300, accounts=3)
    async with query_client(topics) as client:
        assert (await client.post(f"{ADMIN}/accounts/rebuild")).status_code == 202
        async with asyncio.timeout(30):
            while (await client.get(f"{ADMIN}/accounts")).json()["rebuild"] is None:
                await asyncio.sleep(0.05)
    # The API stopped mid-rebuild: its worker is gone, its checkpoint stays, and nothing
    # holds the workers or the lock.
    assert THREAD_NAME not in [thread.name for thread in threading.enumerate()]
    entry = await ProjectionCatalog(mongo_database).get("accounts")
    assert entry is not None and entry.rebuild is not None and entry.hold is None
    async with operations.exclusive("accounts"):
        pass

    async with query_client(topics) as client:
        assert (await client.post(f"{ADMIN}/accounts/rebuild")).status_code == 202
        report = await wait_for_rebuild(client, f"{ADMIN}/accounts")

    assert report["rebuild_task"]["status"] == "succeeded"
    assert report["collection"] == entry.rebuild.build.collection == "accounts_v1_g2"


@pytest.fixture
def engine_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The rebuild engine's INFO records, whichever thread logs them."""
    caplog.set_level(logging.INFO, logger=rebuild_engine.__name__)
    yield caplog


async def test_a_rebuild_runs_on_the_worker_thread_not_on_the_one_serving_requests(
    topics: Settings, engine_log: pytest.LogCaptureFixture
) -> None:
    synthetic_log.load(topics, events=300, accounts=3)
    async with query_client(topics) as client:
        # httpx's ASGI transport runs the app on this thread's event loop.
        serving = threading.current_thread()
        assert (await client.post(f"{ADMIN}/accounts/rebuild")).status_code == 202
        report = await wait_for_rebuild(client, f"{ADMIN}/accounts")
        worker_alive = [thread.name for thread in threading.enumerate()]

    assert report["rebuild_task"]["status"] == "succeeded"
    # The engine's own record of the switch says which thread folded and switched.
    [switched] = [
        record
        for record in engine_log.records
        if record.name == rebuild_engine.__name__ and "is live" in record.getMessage()
    ]
    assert switched.threadName == THREAD_NAME and switched.thread != serving.ident
    assert THREAD_NAME in worker_alive
    assert THREAD_NAME not in [thread.name for thread in threading.enumerate()]  # joined


async def wait_for_rebuild(client: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """The projection's report once this API's rebuild of it has ended."""
    async with asyncio.timeout(120):
        while True:
            report: dict[str, Any] = (await client.get(location)).json()
            task = report.get("rebuild_task")
            if task is not None and task["status"] != "running":
                return report
            await asyncio.sleep(0.2)


async def test_dead_letters_are_listed_with_their_event_and_error(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    poison = deposited(uuid4(), 2, 100)
    letter = await dead_letter_of(mongo_database, "accounts", poison)

    response = await client.get(f"{ADMIN}/accounts/dead-letters")
    report = await client.get(f"{ADMIN}/accounts")

    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert (item["id"], item["projection"], item["status"]) == (letter, "accounts", "pending")
    assert item["error"].startswith("ProjectionGapError")
    assert item["event"]["event_id"] == str(poison.event_id)
    assert item["event"]["data"]["balance_after"] == 100
    assert report.json()["dead_letters"] == 1


async def test_a_retried_letter_that_still_fails_stays_pending_with_its_error(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    letter = await dead_letter_of(mongo_database, "accounts", deposited(uuid4(), 2, 100))

    response = await client.post(f"{ADMIN}/accounts/dead-letters/retry")

    assert response.status_code == 200, response.text
    assert response.json()["retried"] == 0
    [failure] = response.json()["failed"]
    assert failure["id"] == letter and "ProjectionGapError" in failure["error"]
    pending = (await client.get(f"{ADMIN}/accounts/dead-letters")).json()["items"]
    assert [item["id"] for item in pending] == [letter]


async def test_a_letter_retried_after_the_fix_is_applied_and_marked_retried(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account = uuid4()
    letter = await dead_letter_of(mongo_database, "accounts", deposited(account, 2, 100))
    # The fix: the account's opening, missing before, is in the view now.
    await writer_for(PROJECTIONS["accounts"], mongo_database).apply([opened(account)])

    response = await client.post(f"{ADMIN}/accounts/dead-letters/retry", json={"ids": [letter]})

    assert response.status_code == 200, response.text
    assert response.json() == {"retried": 1, "failed": []}
    document = await mongo_database["accounts_v1"].find_one({"_id": str(account)})
    assert document is not None and (document["version"], document["balance"]) == (2, 100)
    retried = (await client.get(f"{ADMIN}/accounts/dead-letters?status=retried")).json()
    assert [item["id"] for item in retried["items"]] == [letter]
    assert retried["items"][0]["retried_at"] is not None
    pending = (await client.get(f"{ADMIN}/accounts/dead-letters")).json()["items"]
    assert pending == []


async def test_a_discarded_letter_is_kept_but_no_longer_pending(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    discarded = await dead_letter_of(mongo_database, "accounts", deposited(uuid4(), 2, 100))
    kept = await dead_letter_of(mongo_database, "accounts", deposited(uuid4(), 2, 100))

    response = await client.post(
        f"{ADMIN}/accounts/dead-letters/discard", json={"ids": [discarded]}
    )

    assert (response.status_code, response.json()) == (200, {"discarded": 1})
    pending = (await client.get(f"{ADMIN}/accounts/dead-letters")).json()["items"]
    gone = (await client.get(f"{ADMIN}/accounts/dead-letters?status=discarded")).json()["items"]
    assert [item["id"] for item in pending] == [kept]
    assert [(item["id"], item["status"]) for item in gone] == [(discarded, "discarded")]
    assert gone[0]["discarded_at"] is not None


async def record_malformed(database: Database) -> str:
    record = RawRecord("ledger.events", 0, 42, b"junk", b"not a cloud event", [("x", b"y")])
    await DeadLetters(database).record_malformed(record, ValueError("not a CloudEvent"))
    return "*:ledger.events:0:42"


async def test_records_that_were_not_events_are_listed_under_star(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    letter = await record_malformed(mongo_database)

    response = await client.get(f"{ADMIN}/*/dead-letters")

    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert (item["id"], item["projection"]) == (letter, "*")
    assert item["event"]["value"] == "not a cloud event"


async def test_retrying_a_record_that_was_not_an_event_is_refused(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    letter = await record_malformed(mongo_database)

    response = await client.post(f"{ADMIN}/*/dead-letters/retry", json={"ids": [letter]})

    assert problem(response, 422) == "dead-letter-not-retryable"
    discarded = await client.post(f"{ADMIN}/*/dead-letters/discard")
    assert discarded.json() == {"discarded": 1}


async def test_an_unknown_letter_status_is_a_validation_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{ADMIN}/accounts/dead-letters?status=lost")

    assert problem(response, 422) == "validation-error"


# --- with real tokens --------------------------------------------------------------------


@pytest.fixture
async def secured(topics: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Settings, Any]]:
    """The query API trusting an in-process issuer, with rate limits off."""
    settings = with_local_issuer(topics)
    settings = settings.model_copy(
        update={"ratelimit": settings.ratelimit.model_copy(update={"enabled": False})}
    )
    async with issuer_in_process(settings) as issuer:
        verifier = TokenVerifier.from_settings(settings.auth, transport=issuer.transport)
        app = create_app(settings, verifier=verifier)
        async with LifespanManager(app, startup_timeout=15) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://query") as client:
                yield client, settings, issuer


async def token_with(secured: tuple[httpx.AsyncClient, Settings, Any], scopes: str) -> str:
    _, settings, issuer = secured
    return await fetch_token(issuer.http, create_client(settings, scopes=scopes))


async def test_the_admin_routes_need_a_token(
    secured: tuple[httpx.AsyncClient, Settings, Any],
) -> None:
    client = secured[0]

    response = await client.post(f"{ADMIN}/accounts/pause")

    assert problem(response, 401) == "authentication-required"


async def test_the_admin_routes_need_the_projections_admin_scope(
    secured: tuple[httpx.AsyncClient, Settings, Any],
) -> None:
    client = secured[0]
    reader = await token_with(secured, "ledger:read events:read ledger:all-owners")
    operator = await token_with(secured, "projections:admin")

    refused = await client.post(f"{ADMIN}/accounts/pause", headers=bearer(reader))
    allowed = await client.get(f"{ADMIN}/accounts", headers=bearer(operator))

    assert problem(refused, 403) == "insufficient-scope"
    assert allowed.status_code == 200, allowed.text
    assert (await client.get(f"{ADMIN}/accounts", headers=bearer(reader))).status_code == 403
