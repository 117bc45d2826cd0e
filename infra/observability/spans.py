"""A trace as people read it: its spans, by start, and the tree their parents make."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

SpanStatus = Literal["unset", "ok", "error"]


@dataclass(frozen=True)
class SpanLink:
    """A span of another trace (or another part of this one) that this span follows from."""

    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Span:
    """One operation of one process: what it was, how long it took and how it ended."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start: datetime
    duration_ms: float
    status: SpanStatus
    attributes: dict[str, object] = field(default_factory=dict, hash=False)
    links: tuple[SpanLink, ...] = ()

    @property
    def end(self) -> datetime:
        """When it ended."""
        return self.start + timedelta(milliseconds=self.duration_ms)


@dataclass(frozen=True)
class Trace:
    """Every span the backend holds of one trace, sorted by start."""

    trace_id: str
    spans: tuple[Span, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", tuple(sorted(self.spans, key=lambda s: s.start)))

    @cached_property
    def children(self) -> dict[str, list[Span]]:
        """Each span's children by span id, in order of start (absent: none)."""
        children: dict[str, list[Span]] = {}
        for span in self.spans:
            if span.parent_span_id is not None:
                children.setdefault(span.parent_span_id, []).append(span)
        return children

    @cached_property
    def roots(self) -> list[Span]:
        """Spans whose parent is not in the trace: its root, and any whose parent was lost."""
        known = {span.span_id for span in self.spans}
        return [span for span in self.spans if span.parent_span_id not in known]

    def walk(self) -> Iterator[tuple[int, Span]]:
        """Every span depth first with its depth (a root is 0), children in order of start."""
        pending = [(0, root) for root in reversed(self.roots)]
        while pending:
            depth, span = pending.pop()
            yield depth, span
            pending.extend((depth + 1, c) for c in reversed(self.children.get(span.span_id, [])))

    @property
    def start(self) -> datetime:
        """When its first span started."""
        return self.spans[0].start

    @property
    def duration_ms(self) -> float:
        """From the first span's start to the last span's end."""
        return (max(span.end for span in self.spans) - self.start) / timedelta(milliseconds=1)

    @property
    def root(self) -> Span:
        """The span that started first among its roots."""
        return self.roots[0]
