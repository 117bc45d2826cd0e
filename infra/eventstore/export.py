"""Exporting the event history to JSONL, CSV or Parquet, in parallel by position ranges.

An export splits the positions it covers into ranges of `page_size` positions. Worker
processes each read a range with a binary cursor, decode it the fast way (`LeanDecoder`)
and encode it for the file; the parent writes the chunks in log order, with at most two
per worker in flight, so memory stays bounded whatever the log's size. Decoding is
Python CPU (about 6 µs an event) and a process can use only one core; with one worker
an export reached 0.42 x `COPY … TO STDOUT` of the same rows, so a single process
cannot reach the history's target of half of COPY (`make bench`, export).

Parquet files are typed: besides the envelope's columns, one column per event field
(`amount` int64, `currency` string, `owner_id` a UUID as text, ...), from the published
field table, so DuckDB, polars and pandas query them without parsing JSON. A field an
event type does not have is null. JSONL keeps the envelope's JSON shape and CSV its flat
shape with `data` as compact JSON.
"""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeAlias

import orjson
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from domain.envelope import EVENT_FIELDS, FieldType
from infra.eventstore.codec import LeanDecoder, StoredRow, event_mapper
from infra.eventstore.history import EventFilter, EventHistory, select_rows

COLUMNS = (
    "position",
    "event_id",
    "event_type",
    "aggregate_id",
    "aggregate_version",
    "occurred_at",
    "schema_version",
    "correlation_id",
    "causation_id",
    "data",
)

ENVELOPE_SCHEMA = pa.schema(
    [
        ("position", pa.int64()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("aggregate_id", pa.string()),
        ("aggregate_version", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("schema_version", pa.int32()),
        ("correlation_id", pa.string()),
        ("causation_id", pa.string()),
    ]
)
_ARROW_TYPES: Mapping[FieldType, pa.DataType] = {
    "uuid": pa.string(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
}


def _data_fields() -> dict[str, FieldType]:
    """Every event field once, in the order the field table first names it (a unit test
    proves a name has one type wherever it appears)."""
    fields: dict[str, FieldType] = {}
    for event_fields in EVENT_FIELDS.values():
        for name, recorded in event_fields.items():
            fields.setdefault(name, recorded)
    return fields


DATA_FIELDS = _data_fields()
PARQUET_SCHEMA = pa.schema(
    [*ENVELOPE_SCHEMA, *(pa.field(name, _ARROW_TYPES[kind]) for name, kind in DATA_FIELDS.items())]
)
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
WINDOW_PER_WORKER = 2  # ranges in flight per worker: enough to keep each busy


class ExportFormat(StrEnum):
    """File formats `ledger events export` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


Chunk: TypeAlias = bytes | pa.RecordBatch
"""A range of events encoded for the file: bytes for JSONL and CSV, a batch for Parquet."""


class UnexportableFieldError(ValueError):
    """An event carries a field the published field table does not name."""

    def __init__(self, event_type: str, names: Sequence[str]) -> None:
        super().__init__(
            f"{event_type} carries field(s) {', '.join(sorted(names))} that "
            "domain.envelope.EVENT_FIELDS does not name; add them there"
        )


def encode(events: list[dict[str, Any]], export_format: ExportFormat) -> Chunk:
    """Events in the envelope's JSON shape, encoded for a file of this format."""
    if export_format is ExportFormat.PARQUET:
        batch: Chunk = _record_batch(events)
        return batch
    if export_format is ExportFormat.CSV:
        text = io.StringIO()
        csv.DictWriter(text, fieldnames=COLUMNS).writerows(_flat_row(e) for e in events)
        return text.getvalue().encode()
    return b"".join([orjson.dumps(event) + b"\n" for event in events])


def _flat_row(event: dict[str, Any]) -> dict[str, Any]:
    return event | {"data": orjson.dumps(event["data"], option=orjson.OPT_SORT_KEYS).decode()}


def _record_batch(events: list[dict[str, Any]]) -> pa.RecordBatch:
    known = DATA_FIELDS.keys()
    for event in events:
        if not event["data"].keys() <= known:
            raise UnexportableFieldError(event["event_type"], list(event["data"].keys() - known))
    columns: list[pa.Array] = []
    for field in ENVELOPE_SCHEMA:
        values = [event[field.name] for event in events]
        if field.name == "occurred_at":
            # ISO text with its offset; Arrow's cast parses it in C++, to UTC.
            columns.append(pa.array(values, pa.string()).cast(field.type))
        else:
            columns.append(pa.array(values, field.type))
    for name, kind in DATA_FIELDS.items():
        columns.append(pa.array([event["data"].get(name) for event in events], _ARROW_TYPES[kind]))
    return pa.RecordBatch.from_arrays(columns, schema=PARQUET_SCHEMA)


class ExportFile:
    """The output file of one export; writes chunks in the order it is given them.

    JSONL and CSV can be appended to (CSV writes its header only into an empty file);
    Parquet cannot, so a resumed export writes a new Parquet file.
    """

    def __init__(self, path: Path, export_format: ExportFormat, *, append: bool) -> None:
        self._parquet: pq.ParquetWriter | None = None
        self._file: IO[bytes] | None = None
        if export_format is ExportFormat.PARQUET:
            if append:
                raise ValueError("Parquet files cannot be appended to; write a new file")
            self._parquet = pq.ParquetWriter(str(path), PARQUET_SCHEMA, compression="zstd")
            return
        starts_empty = not append or not path.exists() or path.stat().st_size == 0
        self._file = path.open("ab" if append else "wb")
        if export_format is ExportFormat.CSV and starts_empty:
            self._file.write(",".join(COLUMNS).encode() + b"\r\n")

    def write(self, chunk: Chunk) -> None:
        """Append one encoded range."""
        if isinstance(chunk, pa.RecordBatch):
            if chunk.num_rows and self._parquet is not None:
                self._parquet.write_batch(chunk)
        elif self._file is not None:
            self._file.write(chunk)

    def close(self) -> None:
        """Flush, and for Parquet write the footer."""
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Range:
    """The events of a filter in the positions (after, until], to encode in one format."""

    wanted: EventFilter
    after: int
    until: int
    export_format: ExportFormat


@dataclass(frozen=True)
class Encoded:
    """A range, read and encoded."""

    until: int
    events: int
    chunk: Chunk


class RangeReader:
    """Reads and encodes ranges over one connection of its own (one per worker)."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._decoder = LeanDecoder(event_mapper())

    def encode(self, task: Range) -> Encoded:
        """The range's events, decoded the fast way and encoded."""
        query, params = select_rows(task.wanted, task.after, task.until, None)
        rows: list[StoredRow] = self._conn.cursor(binary=True).execute(query, params).fetchall()
        events = [self._decoder.to_json(row) for row in rows]
        return Encoded(task.until, len(events), encode(events, task.export_format))

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


_worker_reader: RangeReader | None = None


def _start_worker(url: str) -> None:
    global _worker_reader
    _worker_reader = RangeReader(url)


def _encode_in_worker(task: Range) -> Encoded:
    assert _worker_reader is not None, "the pool's initializer opens the reader"
    return _worker_reader.encode(task)


def ranges(
    wanted: EventFilter, after: int, bound: int, span: int, export_format: ExportFormat
) -> Iterator[Range]:
    """(after, bound] cut into ranges of `span` positions."""
    start = after
    while start < bound:
        end = min(start + span, bound)
        yield Range(wanted, start, end, export_format)
        start = end


async def export_history(
    history: EventHistory,
    url: str,
    wanted: EventFilter,
    out: ExportFile,
    export_format: ExportFormat,
    *,
    page_size: int,
    workers: int,
    progress: Callable[[int, int], None],
) -> tuple[int, int]:
    """Write every event the filter covers now into `out`, in log order.

    `progress(through, events)` is called after each range is written. Returns (events
    written, the last position covered). The end is fixed when the export starts, so it
    finishes while the log keeps growing; an interrupted export has written every event
    up to the last position reported, so `--after` that position resumes it.
    """
    after, bound = await history.bounds(wanted)
    written, through = 0, after
    loop = asyncio.get_running_loop()
    executor: Executor
    reader: RangeReader | None = None
    if workers == 1:
        reader = RangeReader(url)
        executor = ThreadPoolExecutor(1, thread_name_prefix="export")
        work: Callable[[Range], Encoded] = reader.encode
    else:
        # Forked, not spawned: a spawned worker re-imports the main module, which for the
        # `ledger` script is the whole CLI (3 s each). A forked worker uses only the
        # connection it opens itself, and exits with `os._exit`, so nothing it inherited
        # (the parent's pool, sockets, threads' locks) is used or finalised in it.
        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(url,),
        )
        work = _encode_in_worker
    pending: deque[asyncio.Future[Encoded]] = deque()
    tasks = ranges(wanted, after, bound, page_size, export_format)
    try:
        while True:
            while len(pending) < workers * WINDOW_PER_WORKER and (task := next(tasks, None)):
                pending.append(loop.run_in_executor(executor, work, task))
            if not pending:
                break
            encoded = await pending.popleft()
            out.write(encoded.chunk)
            written += encoded.events
            through = encoded.until
            progress(through, written)
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        if reader is not None:
            reader.close()
    return written, max(through, after)
