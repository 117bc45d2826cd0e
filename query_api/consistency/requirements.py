"""What a read waits for before it answers, and how to judge that from one observation.

Pure: the watcher gathers an `Observation` (documents, the relay's checkpoint, each
projection's progress, the topic's end offsets) and `is_met` judges every requirement
against it, with no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from query_api.views.progress import PartitionProgress
from query_api.views.served import ServedProjection


@dataclass(frozen=True)
class DocumentVersion:
    """The document exists and has applied its aggregate's `version` (or a later one)."""

    collection: str
    document_id: str
    version: int


@dataclass(frozen=True)
class DocumentExists:
    """The document exists (e.g. the insert-only statement line of one movement)."""

    collection: str
    document_id: str


@dataclass(frozen=True)
class TimelineHasPosition:
    """The document's `timeline` lists the event at global `position`."""

    collection: str
    document_id: str
    position: int


@dataclass(frozen=True)
class ProjectionReached:
    """The projection has applied every event at or before global `position`."""

    projection: ServedProjection
    position: int


@dataclass(frozen=True)
class AnyOf:
    """Met as soon as one of the options is met."""

    options: tuple[Requirement, ...]


Requirement = DocumentVersion | DocumentExists | TimelineHasPosition | ProjectionReached | AnyOf
DocumentRequirement = DocumentVersion | DocumentExists | TimelineHasPosition


@dataclass(frozen=True)
class Observation:
    """What the watcher saw in one look at the read side."""

    documents: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    relay_position: int | None = None
    progress: Mapping[ServedProjection, Mapping[int, PartitionProgress]] = field(
        default_factory=dict
    )
    end_offsets: Mapping[int, int] | None = None
    routing_end_offsets: Mapping[int, int] | None = None


@dataclass
class Plan:
    """What to read for a set of requirements: documents by collection, and projections."""

    documents: dict[str, set[str]] = field(default_factory=dict)
    fields: dict[str, set[str]] = field(default_factory=dict)
    projections: set[ServedProjection] = field(default_factory=set)
    lowest_position: int | None = None

    def add(self, requirement: Requirement) -> None:
        """Include what `requirement` needs."""
        if isinstance(requirement, AnyOf):
            for option in requirement.options:
                self.add(option)
        elif isinstance(requirement, ProjectionReached):
            self.projections.add(requirement.projection)
            if requirement.projection.routed:
                # Stage one of a routed projection: its router, on the events topic.
                self.projections.add(requirement.projection.router_stage)
            if self.lowest_position is None or requirement.position < self.lowest_position:
                self.lowest_position = requirement.position
        else:
            self.documents.setdefault(requirement.collection, set()).add(requirement.document_id)
            self.fields.setdefault(requirement.collection, set()).update(_fields(requirement))


def plan_for(requirements: Iterable[Requirement]) -> Plan:
    """One plan covering every requirement: one read of each collection's wanted ids."""
    plan = Plan()
    for requirement in requirements:
        plan.add(requirement)
    return plan


def _fields(requirement: DocumentRequirement) -> set[str]:
    if isinstance(requirement, DocumentVersion):
        return {"version"}
    if isinstance(requirement, TimelineHasPosition):
        return {"timeline"}
    return set()


def is_met(requirement: Requirement, observation: Observation) -> bool:
    """Whether the observation shows the requirement met."""
    if isinstance(requirement, AnyOf):
        return any(is_met(option, observation) for option in requirement.options)
    if isinstance(requirement, ProjectionReached):
        if observation.relay_position is None:
            return False
        if not requirement.projection.routed:
            return projection_reached(
                requirement.position,
                observation.relay_position,
                observation.progress.get(requirement.projection, {}),
                observation.end_offsets,
            )
        return routed_projection_reached(requirement, observation)
    document = observation.documents.get((requirement.collection, requirement.document_id))
    if document is None:
        return False
    if isinstance(requirement, DocumentVersion):
        version = document.get("version")
        return isinstance(version, int) and version >= requirement.version
    if isinstance(requirement, TimelineHasPosition):
        timeline = document.get("timeline") or []
        return any(
            isinstance(entry, Mapping) and entry.get("position") == requirement.position
            for entry in timeline
        )
    return True


def projection_reached(
    position: int,
    relay_position: int,
    partitions: Mapping[int, PartitionProgress],
    end_offsets: Mapping[int, int] | None,
) -> bool:
    """Whether a projection has applied every event at or before global `position`.

    The events reach the projector through the relay and Kafka, so two facts are needed:

    1. The relay's checkpoint is at or past `position`: every event up to `position` has
       been acknowledged by the broker. Before that, nothing downstream can be trusted.
    2. Then, for every partition `p` of the topic (end offsets `E[p]`, read *after* the
       checkpoint in step 1, so every event up to `position` sits below `E[p]`), either
       - the projection's last applied event in `p` is at a position >= `position`:
         the relay publishes in log order and the projector applies each partition in
         offset order, so every earlier event of `p` is applied too; or
       - the projection's next offset in `p` is >= `E[p]`: it has applied everything the
         partition held when we looked, which includes every event up to `position`.

    The tempting shortcut "no lag in the progress document" is not enough: the document's
    `highwater` dates from the projector's last fetch, which may precede the relay's
    publication of our event; an idle partition would then look caught up while our event
    waits in it. Hence end offsets from the broker, read after the checkpoint.

    A partition with no progress document counts as having applied nothing, so it passes
    only if it is empty. The end offsets being unknown (broker unreachable) never passes.
    """
    if relay_position < position or not end_offsets:
        return False
    for partition, end in end_offsets.items():
        progress = partitions.get(partition)
        if progress is not None and progress.position >= position:
            continue
        if (progress.next_offset if progress is not None else 0) >= end:
            continue
        return False
    return True


def routed_projection_reached(requirement: ProjectionReached, observation: Observation) -> bool:
    """A routed projection has applied everything up to `position` in two stages.

    1. The router (running in the events topic's batches of the projection's workers,
       which record that progress as the projection's `router_stage`) has forwarded
       every event up to `position`: the rule of `projection_reached` on the events topic.
    2. The projection has applied every forwarded event: the same rule on the routing
       topic, with its end offsets read *after* the progress that proved stage 1, so they
       include every event the router forwarded by then.
    """
    assert observation.relay_position is not None
    forwarded = projection_reached(
        requirement.position,
        observation.relay_position,
        observation.progress.get(requirement.projection.router_stage, {}),
        observation.end_offsets,
    )
    return forwarded and projection_reached(
        requirement.position,
        observation.relay_position,
        observation.progress.get(requirement.projection, {}),
        observation.routing_end_offsets,
    )
