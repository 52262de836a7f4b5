"""A machine's signed prints on the parts' timelines: the start of a print the agent was given a
print ticket for, and that print's end, become machine-attested records of the ticket's part
(printshops.services.attestation). The machine's event is applied whatever happens here; when
it cannot attest its ticket, the event keeps the reason, shown on the machine's page."""

from __future__ import annotations

from typing import Any

from machines.models import Machine, MachineEvent
from machines.records import machine_event_content
from printfair.machine_events import JOB_ENDED, JOB_STARTED
from printshops.services.attestation import (
    AttestationRefused,
    MachinePrint,
    print_ended_attest,
    print_started_attest,
    print_ticket_of,
)


def machine_event_attest(machine: Machine, event: MachineEvent) -> None:
    """Attest the ticket's print if `event` starts or ends one (inside the event's transaction)."""
    if event.kind not in (JOB_STARTED, JOB_ENDED):
        return
    started = event if event.kind == JOB_STARTED else _started(machine, event)
    if started is None or (started is not event and started.attested_record_id is None):
        return  # a job's end whose start was not attested is not either
    if started.data.get("ticket") is None:
        return
    try:
        ticket = print_ticket_of(operator=machine.operator, ticket_id=_ticket_id(started.data))
        machine_print = MachinePrint(
            machine_id=machine.pk,
            machine_name=f"{machine} (machine {machine.pk})",
            ticket_id=ticket.pk,
            occurred_at=event.occurred_at,
            attestation=machine_event_content(event),
        )
        if event.kind == JOB_STARTED:
            record = print_started_attest(
                ticket=ticket, machine_print=machine_print, file=event.data
            )
        else:
            record = print_ended_attest(
                ticket=ticket, machine_print=machine_print, ended=event.data
            )
    except AttestationRefused as refused:
        event.attestation_note = str(refused)
        event.save(update_fields=["attestation_note"])
        return
    event.attested_record = record
    event.save(update_fields=["attested_record"])


def _ticket_id(data: dict[str, Any]) -> int:
    """The print ticket a job's start names: its number as PrintFair gave it (its record id)."""
    ticket = data["ticket"]
    if not (isinstance(ticket, str) and ticket.isdigit() and len(ticket) <= 18):
        raise AttestationRefused(f"The print names ticket {ticket!r}, which is not a ticket id.")
    return int(ticket)


def _started(machine: Machine, ended: MachineEvent) -> MachineEvent | None:
    """The start of the job `ended` ends: the machine's last job_started before it."""
    return (
        MachineEvent.objects.filter(machine=machine, kind=JOB_STARTED, sequence__lt=ended.sequence)
        .order_by("-sequence")
        .first()
    )
