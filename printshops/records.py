"""The print shops' anchored records (see ledger/records.py): print tickets."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.records import Record, record_kind
from printshops.models import PrintTicket


def print_ticket_record(ticket: PrintTicket) -> Record:
    return {
        "kind": "print_ticket",
        "ticket": ticket.pk,
        "job": ticket.licence.order.job_id,
        "shop": ticket.licence.organization_id,
        "number": ticket.number,
        "prints_allowed": ticket.licence.prints_allowed,
        "machine": ticket.machine,
        "part_serial": ticket.part_serial,
        "taken_at": ticket.created_at.isoformat(),
    }


def _ticket_ids() -> Iterable[str]:
    return (str(pk) for pk in PrintTicket.objects.values_list("pk", flat=True))


@record_kind("print_ticket", expected_ids=_ticket_ids)
def build_print_ticket_record(record_id: str) -> Record | None:
    ticket = PrintTicket.objects.select_related("licence__order").filter(pk=record_id).first()
    return print_ticket_record(ticket) if ticket is not None else None
