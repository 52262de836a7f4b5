"""Production and quality (DESIGN.md section 3 steps 9 to 11): the winning shop reports each
part's production events and quality measurements (printfair/production.py says what each
carries), with evidence files; every entry is numbered per part and anchored as a record. A job
may name characteristics that need a passing, anchored and final measurement on every part
before the order can be delivered or accepted (printshops/services/quality_gate.py); the
certificates issued from them at release are printshops/services/certificates.py's."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError
from config.queries import Prepared, together
from config.rows import NewRows
from ledger.services.anchoring import LeafItem, record_leaves
from ledger.services.verification import anchor_state
from marketplace.models import Order, User
from marketplace.services.audit import audit_events, audit_record
from marketplace.services.evidence import evidence_store, files_kept_on_success
from printfair.production import (
    QUALITY,
    RecordInvalid,
    batch_entry_field,
    batch_entry_label,
    validate_event,
    validate_quality,
)
from printshops.models import EvidenceFile, PartRecord, PrintTicket
from printshops.records import part_record_content
from printshops.services.shops import require_shop

logger = logging.getLogger(__name__)

# Orders whose parts a shop may still report on: in production, delivered (the claim window),
# or disputed (evidence for the arbiter).
REPORTABLE = (Order.Status.FUNDED, Order.Status.DELIVERED, Order.Status.DISPUTED)
# How far ahead of the server's clock a reported time may be (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)
EVIDENCE_PER_RECORD_MAX = 20

# What evidence files may be, by their first bytes (the name and the client's content type are
# not trusted): photos, PDF reports, and measurement files as UTF-8 text (CSV).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


def part_scope(order: Order, part_serial: str) -> str:
    """The anchoring scope of a part's records (RecordLeaf.scope)."""
    return f"order:{order.pk}:part:{part_serial}"


def _orders(*, lock: bool) -> Prepared[Order]:
    def build(job: int, shop: int) -> QuerySet[Order]:
        orders = Order.objects.select_for_update(of=("self",)) if lock else Order.objects.all()
        return orders.filter(job_id=job, shop=shop).order_by("pk")[:1]

    return Prepared(build)


# The shop's order of a job, locked or not: compiled once (config/queries.py).
_ORDER = _orders(lock=False)
_ORDER_LOCKED = _orders(lock=True)


def _shop_order(actor: User, job_id: int) -> Order:
    return _reportable(_ORDER(job=job_id, shop=require_shop(actor).organization_id))


def _reportable(orders: list[Order]) -> Order:
    """The shop's order (the rows of `_ORDER` or `_ORDER_LOCKED`), if production can be
    reported on it."""
    order = orders[0] if orders else None
    if order is None:
        raise Http404("Your shop has no order for this job.")
    if order.status not in REPORTABLE:
        raise DomainError(
            f"The order is {order.get_status_display().lower()}: production can be reported "
            "only while it is funded, delivered or disputed.",
            code="wrong_order_state",
            status=409,
        )
    return order


def _sniff(upload: UploadedFile[bytes]) -> str | None:
    head = upload.read(4096)
    upload.seek(0)
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
    return "text/csv" if (upload.name or "").lower().endswith(".csv") else "text/plain"


@files_kept_on_success
@transaction.atomic
def evidence_upload(*, actor: User, job_id: int, upload: UploadedFile[bytes]) -> EvidenceFile:
    """Keep a photo, PDF report or measurement file for the records of the shop's order."""
    order = _shop_order(actor, job_id)
    if not upload.size:
        raise DomainError("The file is empty.", fields={"file": ["The file is empty."]})
    content_type = _sniff(upload)
    if content_type is None:
        message = "Evidence must be a JPEG, PNG or WebP photo, a PDF, or a text/CSV file."
        raise DomainError(message, fields={"file": [message]})
    stored = evidence_store(order, upload, field="file")
    evidence = EvidenceFile.objects.create(
        order=order,
        name=str(stored["name"]),
        content_type=content_type,
        size_bytes=int(stored["size_bytes"]),
        sha256=str(stored["sha256"]),
        blob=str(stored["blob"]),
        uploaded_by=actor,
    )
    audit_record(actor=actor, verb="evidence.uploaded", target=evidence, sha256=evidence.sha256)
    return evidence


def _serial(part_serial: str) -> str:
    part_serial = (part_serial or "").strip()
    if not part_serial:
        raise DomainError("Give the part serial.", fields={"part_serial": ["Required."]})
    return part_serial


def _occurred_at(order: Order, occurred_at: datetime | None) -> datetime:
    now = timezone.now()
    if occurred_at is None:
        return now
    if timezone.is_naive(occurred_at):
        raise DomainError(
            "Give the time with its UTC offset.",
            fields={"occurred_at": ["Give the time with its UTC offset, e.g. 2026-05-01T09:30Z."]},
        )
    if occurred_at > now + CLOCK_SKEW:
        message = "This is in the future."
        raise DomainError(message, fields={"occurred_at": [message]})
    if occurred_at < order.created_at - CLOCK_SKEW:
        message = "This is before the job was awarded."
        raise DomainError(message, fields={"occurred_at": [message]})
    return occurred_at.astimezone(UTC)


def _evidence(
    evidence_ids: Sequence[uuid.UUID], found: Mapping[uuid.UUID, EvidenceFile]
) -> list[EvidenceFile]:
    """The files an entry cites, from `found` (the order's files among all cited ids)."""
    if len(evidence_ids) > EVIDENCE_PER_RECORD_MAX:
        message = f"At most {EVIDENCE_PER_RECORD_MAX} files per record."
        raise DomainError(message, fields={"evidence": [message]})
    wanted = list(dict.fromkeys(evidence_ids))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        message = "No evidence file of this order has the id " + ", ".join(
            sorted(str(pk) for pk in missing)
        )
        raise DomainError(message + ".", fields={"evidence": [message + "."]})
    return [found[pk] for pk in wanted]


def _validated(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return dict(validate_quality(data) if kind == QUALITY else validate_event(kind, data))
    except RecordInvalid as exc:
        # A quality record's fields are the request's own; an event's are under `data`.
        prefix = "" if kind == QUALITY else "data."
        raise DomainError(
            f"The {kind.replace('_', ' ')} record is not valid: {exc}",
            fields={
                (name if name == "kind" else prefix + name): problems
                for name, problems in exc.fields.items()
            },
        ) from None


@dataclass(frozen=True)
class PartEntry:
    """One production event or quality measurement to record (`part_records_add`), as
    `part_record_add` takes it."""

    part_serial: str
    kind: str
    data: Mapping[str, Any]
    occurred_at: datetime | None = None
    evidence_ids: Sequence[uuid.UUID] = ()


@contextmanager
def _naming(index: int, entry: PartEntry, *, named: bool) -> Iterator[None]:
    """In a batch, an entry's error names the entry: in its message, and its fields as
    `records.{index}.{field}` (`records.{index}` for an error about the entry as a whole)."""
    try:
        yield
    except DomainError as exc:
        if not named:
            raise
        raise DomainError(
            f"{batch_entry_label(index, entry.part_serial)}: {exc.message}",
            code=exc.code,
            status=exc.status,
            fields={
                batch_entry_field(index, name): problems for name, problems in exc.fields.items()
            }
            or {batch_entry_field(index): [exc.message]},
        ) from None


def _tickets(
    job: int, shop: int, serials: list[str]
) -> QuerySet[PrintTicket, tuple[str, int | None, bool]]:
    """The ticketed serials among `serials` of the shop's order of `job`, each with its last
    number and whether it started, in one query. (A serial without a ticket is refused before
    either is read.) By job and shop, not by the order's id, so that it goes with the locking
    of the order (`_order_and_parts`)."""
    records = PartRecord.objects.filter(order__job=job, part_serial=OuterRef("part_serial"))
    return (
        PrintTicket.objects.filter(
            licence__order__job=job, licence__order__shop=shop, part_serial__in=serials
        )
        .order_by()
        .values_list("part_serial")
        .annotate(
            last=Subquery(records.order_by("-seq").values("seq")[:1]),
            started=Exists(records.filter(kind=PartRecord.Kind.PRINT_STARTED)),
        )
    )


_TICKETS = Prepared(_tickets)


@dataclass
class _Parts:
    """What the entries of a batch are checked against, read in a constant number of queries:
    the serials with a print ticket, those with a print_started event, each part's last number,
    and the order's evidence files among those cited."""

    ticketed: set[str]
    started: set[str]
    last_seq: dict[str, int]
    evidence: dict[uuid.UUID, EvidenceFile]

    @classmethod
    def read(
        cls, order: Order, tickets: list[tuple[str, int | None, bool]], entries: Sequence[PartEntry]
    ) -> _Parts:
        """From `_TICKETS`' rows for the entries' serials, and the evidence they cite."""
        ticketed: set[str] = set()
        last_seq: dict[str, int] = {}
        started: set[str] = set()
        for serial, last, has_started in tickets:
            ticketed.add(serial)
            if last is not None:
                last_seq[serial] = last
            if has_started:
                started.add(serial)
        # An entry citing too many files is refused unread (_evidence).
        cited = {
            pk
            for entry in entries
            if len(entry.evidence_ids) <= EVIDENCE_PER_RECORD_MAX
            for pk in entry.evidence_ids
        }
        evidence = EvidenceFile.objects.filter(order=order).in_bulk(cited) if cited else {}
        return cls(ticketed=ticketed, started=started, last_seq=last_seq, evidence=evidence)


def _order_and_parts(
    actor: User, job_id: int, entries: Sequence[PartEntry]
) -> tuple[Order, _Parts]:
    """The shop's order of the job, locked, and its parts that the entries name, read in one
    round trip (config.queries.together): the parts' numbers are read once the lock is held,
    so that they are the latest."""
    shop = require_shop(actor).organization_id
    serials = sorted({serial for entry in entries if (serial := (entry.part_serial or "").strip())})
    orders, tickets = together(
        _ORDER_LOCKED.bind(job=job_id, shop=shop),
        _TICKETS.bind(job=job_id, shop=shop, serials=serials),
    )
    order = _reportable(orders)
    return order, _Parts.read(order, tickets, entries)


def _part_records_add(
    *, actor: User, job_id: int, entries: Sequence[PartEntry], named: bool
) -> list[PartRecord]:
    """`part_records_add`, with errors naming the entry (`named`) or as the one entry's own."""
    order, parts = _order_and_parts(actor, job_id, entries)
    records: list[PartRecord] = []
    evidence_of: list[list[EvidenceFile]] = []
    for index, entry in enumerate(entries):
        with _naming(index, entry, named=named):
            part_serial = _serial(entry.part_serial)
            clean = _validated(entry.kind, entry.data)
            if part_serial not in parts.ticketed:
                raise DomainError(
                    f"No print ticket names part {part_serial}: take one before reporting on the "
                    f"part (`printfair print-ticket {job_id} --machine … --serial {part_serial}`).",
                    code="unknown_part",
                    fields={"part_serial": ["No print ticket names this part."]},
                    status=409,
                )
            when = _occurred_at(order, entry.occurred_at)
            evidence = _evidence(entry.evidence_ids, parts.evidence)
            if entry.kind == PartRecord.Kind.PRINT_FINISHED and part_serial not in parts.started:
                raise DomainError(
                    f"Part {part_serial} has no print_started event: report the start first.",
                    code="out_of_order",
                    status=409,
                )
        if entry.kind == PartRecord.Kind.PRINT_STARTED:
            parts.started.add(part_serial)
        seq = parts.last_seq[part_serial] = parts.last_seq.get(part_serial, 0) + 1
        passed = clean.pop("passed", None)
        characteristic = str(clean.get("characteristic", "")) if entry.kind == QUALITY else ""
        records.append(
            PartRecord(
                order=order,
                part_serial=part_serial,
                seq=seq,
                kind=entry.kind,
                occurred_at=when,
                data=clean,
                characteristic=characteristic,
                passed=passed,
                created_by=actor,
            )
        )
        evidence_of.append(evidence)
    # The records' ids are UUIDs made in Python, so the rows that name them need nothing back
    # from the insert: all of them go in one statement (config.rows).
    new = NewRows()
    new.add(records)  # their created_at is set here: their leaves hash it
    cites = PartRecord.evidence.through
    new.add(
        [
            cites(partrecord_id=record.pk, evidencefile_id=item.pk)
            for record, evidence in zip(records, evidence_of, strict=True)
            for item in evidence
        ]
    )
    leaves = record_leaves(
        kind="part_record",
        items=[
            LeafItem(
                str(record.pk),
                part_record_content(record, evidence=evidence),
                part_scope(order, record.part_serial),
            )
            for record, evidence in zip(records, evidence_of, strict=True)
        ],
    )
    new.add(leaves, ignore_conflicts=True)
    new.add(
        audit_events(
            actor=actor,
            events=[
                (f"part_record.{record.kind}", record, {"part_serial": record.part_serial})
                for record in records
            ],
        )
    )
    new.insert()
    for record, leaf, evidence in zip(records, leaves, evidence_of, strict=True):
        record.queued_anchor = anchor_state(leaf)  # new records: their leaves stand
        record.queued_evidence = evidence
    return records


# No savepoint when called in a transaction (the API's, which answers in it): a refused record
# then ends the caller's transaction too, as the API lets it anyway, and a record costs two
# round trips fewer (SAVEPOINT, RELEASE).
@transaction.atomic(savepoint=False)
def part_record_add(
    *,
    actor: User,
    job_id: int,
    part_serial: str,
    kind: str,
    data: Mapping[str, Any],
    occurred_at: datetime | None = None,
    evidence_ids: Sequence[uuid.UUID] = (),
) -> PartRecord:
    """Report a production event (`kind` one of printfair.production.EVENT_KINDS) or a quality
    measurement (`kind` "quality"; pass or fail is computed here) for a part of the shop's order.
    The part must have a print ticket; the entry gets the part's next number and is queued for
    anchoring."""
    entry = PartEntry(
        part_serial=part_serial,
        kind=kind,
        data=data,
        occurred_at=occurred_at,
        evidence_ids=evidence_ids,
    )
    [part_record] = _part_records_add(actor=actor, job_id=job_id, entries=[entry], named=False)
    return part_record


@transaction.atomic(savepoint=False)  # as part_record_add
def part_records_add(*, actor: User, job_id: int, entries: Sequence[PartEntry]) -> list[PartRecord]:
    """Report many production events and quality measurements at once, all or nothing, each
    checked as `part_record_add` checks it (a print_started earlier in the batch counts for a
    print_finished). Each part's entries get the part's next numbers in the order given. The
    database work does not grow query by query with the entries: the order is locked once, what
    the checks need is read in one query each, and the rows are written in bulk. An error names
    the entry (printfair.production.batch_entry_label and batch_entry_field)."""
    return _part_records_add(actor=actor, job_id=job_id, entries=entries, named=True)
