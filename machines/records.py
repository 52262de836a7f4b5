"""Machine events as anchored records: each job's start, its end and each meter reading, as the
machine signed it (its progress samples are not anchored one by one: the job's end carries
their digest). The record is the signed event itself, so anyone holding it can check both its
anchor and the machine's signature (`printfair.machine_events`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from django.conf import settings
from django.db.models import QuerySet

from ledger.records import RecordContent, record_kind
from machines.models import MachineEvent
from printfair.machine_events import PROGRESS

KIND: Final = "machine_event"


def machine_event_record_id(event: MachineEvent) -> str:
    """`<machine id>.<sequence>`: the event's name for as long as the machine exists."""
    return f"{event.machine_id}.{event.sequence}"


def machine_event_content(event: MachineEvent) -> RecordContent:
    return {
        "chain_id": settings.CHAIN_ID,
        "machine_id": event.machine_id,
        "sequence": event.sequence,
        "occurred_at_ms": event.occurred_at_ms,
        "kind": event.kind,
        "data": event.data,
        "data_hash": event.data_hash,
        "signer": event.key.address,
        "signature": event.signature,
    }


def _anchored_events() -> QuerySet[MachineEvent]:
    return MachineEvent.objects.exclude(kind=PROGRESS).select_related("key")


def _expected_ids() -> Iterable[str]:
    return (machine_event_record_id(event) for event in _anchored_events())


@record_kind(KIND, expected_ids=_expected_ids)
def machine_event_content_rebuild(record_id: str) -> RecordContent | None:
    machine_id, _, sequence = record_id.partition(".")
    if not (machine_id.isdigit() and sequence.isdigit()):
        return None
    event = _anchored_events().filter(machine_id=int(machine_id), sequence=int(sequence)).first()
    return machine_event_content(event) if event is not None else None
