"""Prints a machine signed (DESIGN.md section 8): the start and the end of a print that a shop's
registered machine reported through its agent, for the print ticket the agent was given, put on
the part's timeline beside what the shop reports. The record carries the signed machine event
itself (`attestation`), so whoever reads the anchored record can check the machine's signature
and, on chain, that the key was the machine's (`printfair verify`).

A machine's event is a fact about the machine whatever becomes of it here: the machines app
stores it first, then asks for the attestation, which is refused (`AttestationRefused`, a
reason the shop sees on the machine's page) when the ticket is not the machine's shop's, the
order takes no more reports, or the ticket was printed already (a ticket is one print)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max

from ledger.services.anchoring import record_leaf_add
from marketplace.models import Order, Organization
from printshops.models import DesignRelease, PartRecord, PrintTicket
from printshops.quality import AS_RELEASED, DERIVED, DIFFERS
from printshops.records import part_record_content
from printshops.services.production import REPORTABLE, part_scope


class AttestationRefused(Exception):
    """Why a machine's event does not go on a part's timeline (shown to the shop)."""


@dataclass(frozen=True)
class MachinePrint:
    """What a machine signed of a print, as the timeline records it."""

    machine_id: int
    machine_name: str
    ticket_id: int
    occurred_at: datetime
    #: The signed machine event, as anchored (machines.records.machine_event_content).
    attestation: Mapping[str, Any]


def print_file_match(
    ticket: PrintTicket, file_sha256: str | None, derived_from: Mapping[str, Any] | None
) -> str:
    """How the print file compares with the designs released to the ticket's shop: the very
    file (STL or 3MF sent as-is), a file the machine declared derived from one of them (sliced
    G-code, with its slicer and profile), or neither."""
    released = set(
        DesignRelease.objects.filter(licence=ticket.licence).values_list(
            "design_file__sha256", flat=True
        )
    )
    if file_sha256 in released:
        return AS_RELEASED
    if derived_from and derived_from.get("design_sha256") in released:
        return DERIVED
    return DIFFERS


def print_ticket_of(*, operator: Organization, ticket_id: int) -> PrintTicket:
    """The ticket a machine of `operator` says it prints, if it may (AttestationRefused)."""
    ticket = (
        PrintTicket.objects.select_related("licence__order")
        .filter(pk=ticket_id, licence__organization=operator)
        .first()
    )
    if ticket is None:
        raise AttestationRefused(f"Print ticket {ticket_id} is not one of this shop's tickets.")
    if ticket.licence.order.status not in REPORTABLE:
        raise AttestationRefused(
            f"Print ticket {ticket_id}: its order ({ticket.licence.order.get_status_display()}) "
            "takes no more production records."
        )
    return ticket


def print_started_attest(
    *, ticket: PrintTicket, machine_print: MachinePrint, file: Mapping[str, Any]
) -> PartRecord:
    """Put a machine's signed start of a print on the ticket's part's timeline: `file` is the
    job_started data (file_name, file_sha256, derived_from)."""
    # A ticket is one print under the licence: a second start for it, on this machine or
    # another, would be a print the design's owner never allowed.
    earlier = PartRecord.objects.filter(
        order=ticket.licence.order,
        kind=PartRecord.Kind.PRINT_STARTED,
        attestation__data__ticket=str(ticket.pk),
    ).first()
    if earlier is not None:
        raise AttestationRefused(
            f"Print ticket {ticket.pk} was already printed by machine "
            f"{(earlier.attestation or {}).get('machine_id')}: each print takes its own ticket."
        )
    derived = file.get("derived_from")
    data: dict[str, Any] = {
        "machine": machine_print.machine_name,
        "print_file": file.get("file_name"),
        "print_file_sha256": file.get("file_sha256"),
        "design": print_file_match(ticket, file.get("file_sha256"), derived),
    }
    if derived:
        data.update(slicer=derived["slicer"], profile=derived["profile"])
    return _record(ticket, PartRecord.Kind.PRINT_STARTED, data, machine_print)


def print_ended_attest(
    *, ticket: PrintTicket, machine_print: MachinePrint, ended: Mapping[str, Any]
) -> PartRecord:
    """Put a machine's signed end of a print on the timeline: `ended` is the job_ended data."""
    data: dict[str, Any] = {
        "machine": machine_print.machine_name,
        "outcome": "completed" if ended.get("outcome") == "finished" else "failed",
        "machine_outcome": ended.get("outcome"),
    }
    for name in ("duration_s", "material_cm3", "reason"):
        if ended.get(name) not in (None, ""):
            data[name] = ended[name]
    return _record(ticket, PartRecord.Kind.PRINT_FINISHED, data, machine_print)


def _record(
    ticket: PrintTicket, kind: str, data: dict[str, Any], machine_print: MachinePrint
) -> PartRecord:
    # The order's row lock numbers the part's records one after the other, as the shop's own
    # reports are numbered (printshops.services.production).
    order = Order.objects.select_for_update().get(pk=ticket.licence.order_id)
    last = (
        PartRecord.objects.filter(order=order, part_serial=ticket.part_serial).aggregate(
            last=Max("seq")
        )["last"]
        or 0
    )
    record = PartRecord.objects.create(
        order=order,
        part_serial=ticket.part_serial,
        seq=last + 1,
        kind=kind,
        occurred_at=machine_print.occurred_at,
        data=data,
        attestation=dict(machine_print.attestation),
    )
    record_leaf_add(
        kind="part_record",
        record_id=str(record.pk),
        record=part_record_content(record, evidence=[]),
        scope=part_scope(order, record.part_serial),
    )
    return record
