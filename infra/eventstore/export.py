"""Writing event envelopes to JSONL, CSV or Parquet files, page by page, in bounded memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from domain.envelope import EventEnvelope

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

# Parquet: one row group per written page; `data` stays JSON text because each event type
# has its own fields, and a union schema would change whenever an event type is added.
PARQUET_SCHEMA = pa.schema(
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
        ("data", pa.string()),
    ]
)


class ExportFormat(StrEnum):
    """File formats `ledger events export` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


class EventWriter(Protocol):
    """Appends pages of events to one output file."""

    def write(self, events: Sequence[EventEnvelope]) -> None:
        """Append these events."""

    def close(self) -> None:
        """Flush and close the file."""


def flat_row(event: EventEnvelope) -> dict[str, Any]:
    """One event as a flat row; `data` as compact JSON text."""
    row = event.to_json()
    row["data"] = json.dumps(row["data"], separators=(",", ":"), sort_keys=True)
    return {column: row[column] for column in COLUMNS}


class JsonLinesWriter:
    """One JSON object per line (the envelope's JSON shape)."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self._file: IO[str] = path.open("a" if append else "w", encoding="utf-8")

    def write(self, events: Sequence[EventEnvelope]) -> None:
        """Append these events."""
        self._file.writelines(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in events)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class CsvWriter:
    """Flat rows with a header (written only when the file starts empty)."""

    def __init__(self, path: Path, *, append: bool) -> None:
        starts_empty = not append or not path.exists() or path.stat().st_size == 0
        self._file: IO[str] = path.open("a" if append else "w", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
        if starts_empty:
            self._csv.writeheader()

    def write(self, events: Sequence[EventEnvelope]) -> None:
        """Append these events."""
        self._csv.writerows(flat_row(e) for e in events)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class ParquetWriter:
    """A Parquet file; Parquet cannot be appended to, so a resumed export starts a new file."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(str(path), PARQUET_SCHEMA, compression="zstd")

    def write(self, events: Sequence[EventEnvelope]) -> None:
        """Append these events as one row group."""
        if not events:
            return
        rows = [flat_row(e) for e in events]
        for row, event in zip(rows, events, strict=True):
            row["occurred_at"] = event.occurred_at
        self._writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))

    def close(self) -> None:
        """Write the footer."""
        self._writer.close()


class ExportFile:
    """Context manager choosing the writer for a format."""

    def __init__(self, path: Path, export_format: ExportFormat, *, append: bool) -> None:
        self._writer: EventWriter
        if export_format is ExportFormat.PARQUET:
            if append:
                raise ValueError("Parquet files cannot be appended to; write a new file")
            self._writer = ParquetWriter(path)
        elif export_format is ExportFormat.CSV:
            self._writer = CsvWriter(path, append=append)
        else:
            self._writer = JsonLinesWriter(path, append=append)

    def __enter__(self) -> EventWriter:
        return self._writer

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._writer.close()
