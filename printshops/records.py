"""The print shops' anchored records (see ledger/records.py): print tickets, production events
and quality measurements (part records), certificates of conformance."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ledger.records import RecordContent, record_kind
from printfair.canonical import record_hash
from printshops.models import Certificate, EvidenceFile, PartRecord, PrintTicket


def print_ticket_content(ticket: PrintTicket) -> RecordContent:
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
def print_ticket_content_rebuild(record_id: str) -> RecordContent | None:
    ticket = PrintTicket.objects.select_related("licence__order").filter(pk=record_id).first()
    return print_ticket_content(ticket) if ticket is not None else None


def part_record_content(
    part_record: PartRecord, evidence: Iterable[EvidenceFile] | None = None
) -> RecordContent:
    """What is anchored of a production event or quality measurement. `evidence` pins each
    attached file by its SHA-256. A caller that holds the record's files (a batch just written)
    passes them as `evidence`, sparing a query per record; otherwise they are read."""
    files = part_record.evidence.all() if evidence is None else evidence
    return {
        "kind": "part_record",
        "id": str(part_record.pk),
        "job": part_record.order.job_id,
        "shop": part_record.order.shop_id,
        "part_serial": part_record.part_serial,
        "seq": part_record.seq,
        "type": part_record.kind,
        "occurred_at": part_record.occurred_at.isoformat(),
        "data": part_record.data,
        "characteristic": part_record.characteristic,
        "passed": part_record.passed,
        "evidence": sorted(
            (
                {"name": item.name, "sha256": item.sha256, "size_bytes": item.size_bytes}
                for item in files
            ),
            key=lambda item: (str(item["sha256"]), str(item["name"])),
        ),
        "reported_at": part_record.created_at.isoformat(),
        # Only on what a machine signed, so the records the shop reports hash as they always did.
        **({"attested_by": part_record.attestation} if part_record.attestation else {}),
    }


def part_record_altered(part_record: PartRecord, anchored_hash: str | None) -> bool:
    """Whether the record no longer hashes to the hash queued for anchoring (its leaf's): it
    was changed in the database since. False while it has no leaf."""
    return anchored_hash is not None and anchored_hash != (
        "0x" + record_hash(part_record_content(part_record)).hex()
    )


def certificate_content(certificate: Certificate) -> RecordContent:
    """What is anchored of a certificate of conformance: the part, the designs it was made from,
    and each of the part's records by hash, in sequence."""
    order = certificate.order
    return {
        "kind": "certificate",
        "id": str(certificate.pk),
        "job": order.job_id,
        "shop": order.shop_id,
        "customer": order.job.organization_id,
        "part_serial": certificate.part_serial,
        "designs": sorted(order.job.files.values_list("sha256", flat=True)),
        "records": certificate.records,
        "issued_at": certificate.issued_at.isoformat(),
    }


def _part_record_ids() -> Iterable[str]:
    return (str(pk) for pk in PartRecord.objects.values_list("pk", flat=True))


def _certificate_ids() -> Iterable[str]:
    return (str(pk) for pk in Certificate.objects.values_list("pk", flat=True))


def _is_uuid(record_id: str) -> bool:
    try:
        uuid.UUID(record_id)
    except ValueError:
        return False
    return True


@record_kind("part_record", expected_ids=_part_record_ids)
def part_record_content_rebuild(record_id: str) -> RecordContent | None:
    if not _is_uuid(record_id):
        return None
    part_record = (
        PartRecord.objects.select_related("order")
        .prefetch_related("evidence")
        .filter(pk=record_id)
        .first()
    )
    return part_record_content(part_record) if part_record is not None else None


@record_kind("certificate", expected_ids=_certificate_ids)
def certificate_content_rebuild(record_id: str) -> RecordContent | None:
    if not _is_uuid(record_id):
        return None
    certificate = Certificate.objects.select_related("order__job").filter(pk=record_id).first()
    return certificate_content(certificate) if certificate is not None else None
