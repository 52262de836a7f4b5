"""The print shops' anchored records (see ledger/records.py): print tickets, production events
and quality measurements (part records), certificates of conformance."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from ledger.records import RecordContent, int_ids, record_kind_batched, rows_in, uuid_ids
from marketplace.models import DesignFile, Order
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


@record_kind_batched("print_ticket", expected_ids=_ticket_ids)
def print_ticket_contents(record_ids: Sequence[str]) -> dict[str, RecordContent]:
    tickets = PrintTicket.objects.select_related("licence__order").filter(
        pk__in=rows_in(int_ids(record_ids))
    )
    return {str(ticket.pk): print_ticket_content(ticket) for ticket in tickets.order_by()}


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


def certificate_content(
    certificate: Certificate, designs: Iterable[str] | None = None
) -> RecordContent:
    """What is anchored of a certificate of conformance: the part, the designs it was made from
    (`designs`, their SHA-256s, when the caller holds them; otherwise they are read), and each of
    the part's records by hash, in sequence."""
    order = certificate.order
    if designs is None:
        designs = order.job.files.values_list("sha256", flat=True)
    return {
        "kind": "certificate",
        "id": str(certificate.pk),
        "job": order.job_id,
        "shop": order.shop_id,
        "customer": order.job.organization_id,
        "part_serial": certificate.part_serial,
        "designs": sorted(designs),
        "records": certificate.records,
        "issued_at": certificate.issued_at.isoformat(),
    }


def _part_record_ids() -> Iterable[str]:
    # The most numerous records: streamed, in no particular order.
    ids = PartRecord.objects.order_by().values_list("pk", flat=True).iterator(chunk_size=5_000)
    return (str(pk) for pk in ids)


def _certificate_ids() -> Iterable[str]:
    return (str(pk) for pk in Certificate.objects.values_list("pk", flat=True))


@record_kind_batched("part_record", expected_ids=_part_record_ids)
def part_record_contents(record_ids: Sequence[str]) -> dict[str, RecordContent]:
    # A query a table, each row made once: records of a batch share a few orders, and most cite
    # no evidence (select_related and prefetch_related would cost more than the hashing).
    ids = uuid_ids(record_ids)
    records = list(PartRecord.objects.filter(pk__in=rows_in(ids)).order_by())
    orders = Order.objects.in_bulk({record.order_id for record in records})
    cites = PartRecord.evidence.through.objects.filter(partrecord_id__in=rows_in(ids))
    citing = list(cites.values_list("partrecord_id", "evidencefile_id"))
    files = EvidenceFile.objects.in_bulk({file_id for _, file_id in citing})
    evidence: dict[uuid.UUID, list[EvidenceFile]] = {}
    for record_id, file_id in citing:
        evidence.setdefault(record_id, []).append(files[file_id])
    contents: dict[str, RecordContent] = {}
    for record in records:
        record.order = orders[record.order_id]
        contents[str(record.pk)] = part_record_content(record, evidence.get(record.pk, ()))
    return contents


@record_kind_batched("certificate", expected_ids=_certificate_ids)
def certificate_contents(record_ids: Sequence[str]) -> dict[str, RecordContent]:
    certificates = list(
        Certificate.objects.select_related("order__job").filter(
            pk__in=rows_in(uuid_ids(record_ids))
        )
    )
    designs: dict[int, list[str]] = {}
    files = DesignFile.objects.filter(job__in={c.order.job_id for c in certificates})
    for job_id, sha256 in files.values_list("job_id", "sha256"):
        designs.setdefault(job_id, []).append(sha256)
    return {
        str(c.pk): certificate_content(c, designs=designs.get(c.order.job_id, ()))
        for c in certificates
    }
