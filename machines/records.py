"""Machine events as anchored records: each job's start, its end and each meter reading, as the
machine signed it (its progress samples are not anchored one by one: the job's end carries
their digest). The record is the signed event itself, so anyone holding it can check both its
anchor and the machine's signature (`printfair.machine_events`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from django.conf import settings
from django.db.models import Q, QuerySet

from ledger.records import RecordContent, record_kind_batched
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


@record_kind_batched(KIND, expected_ids=_expected_ids)
def machine_event_contents(record_ids: Sequence[str]) -> dict[str, RecordContent]:
    sequences: dict[int, list[int]] = {}
    for record_id in record_ids:
        machine_id, _, sequence = record_id.partition(".")
        if machine_id.isdigit() and sequence.isdigit():
            sequences.setdefault(int(machine_id), []).append(int(sequence))
    if not sequences:
        return {}
    which = Q()
    for machine, numbers in sequences.items():
        which |= Q(machine_id=machine, sequence__in=numbers)
    wanted = set(record_ids)  # "07.3" names no event: ids are as machine_event_record_id writes
    events = ((machine_event_record_id(e), e) for e in _anchored_events().filter(which))
    return {name: machine_event_content(e) for name, e in events if name in wanted}
