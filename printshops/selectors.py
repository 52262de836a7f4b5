from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from config.errors import DomainError
from ledger.chain import chain_config, request_web3_client
from ledger.contracts import AUCTION_HOUSE, TEST_STABLECOIN, contract
from ledger.models import AnchorBatch, ChainTx, Deployment, RecordLeaf
from ledger.services.verification import (
    AnchorState,
    RecordCheck,
    anchor_states,
    proof_bundle,
    record_check,
)
from marketplace import selectors as job_selectors
from marketplace.models import Job, Order, Organization, User
from marketplace.money import SETTLEMENT_DECIMALS
from printshops.models import (
    ApiKey,
    Certificate,
    DesignRelease,
    EvidenceFile,
    Licence,
    PartRecord,
    PrintShopProfile,
    PrintTicket,
)
from printshops.quality import PartVerdict, part_verdict
from printshops.records import part_record_altered
from printshops.services.production import part_scope


def api_key_list_for_user(*, user: User) -> QuerySet[ApiKey]:
    organization = user.organization
    if organization is None or not organization.is_print_shop:
        return ApiKey.objects.none()
    return ApiKey.objects.filter(organization=organization).select_related("created_by")


def api_key_get_for_user(*, user: User, key_id: int) -> ApiKey:
    key = api_key_list_for_user(user=user).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such API key.")
    return key


def chain_info() -> dict[str, Any]:
    """What a client needs to sign for and check against the chain: the chain id, the deployed
    contracts' addresses and the settlement token."""
    chain_id = chain_config().chain_id
    contracts = dict(
        Deployment.objects.filter(chain_id=chain_id).values_list("name", "address").order_by("name")
    )
    return {
        "chain_id": chain_id,
        "rpc_url": settings.CHAIN_PUBLIC_RPC_URL,
        "contracts": contracts,
        "settlement_token": {
            "address": settings.CHAIN_SETTLEMENT_TOKEN or contracts.get(TEST_STABLECOIN),
            "decimals": SETTLEMENT_DECIMALS,
        },
    }


def releases_for_shop(*, user: User, job_id: int | None = None) -> QuerySet[DesignRelease]:
    """The designs released to the user's shop, newest licence first."""
    organization = user.organization
    if organization is None or not organization.is_print_shop:
        return DesignRelease.objects.none()
    releases = DesignRelease.objects.filter(licence__organization=organization)
    if job_id is not None:
        releases = releases.filter(licence__order__job_id=job_id)
    return releases.select_related("design_file", "licence__order__job").order_by(
        "-licence__created_at", "design_file__original_name"
    )


def release_for_download(*, user: User, file_id: uuid.UUID) -> DesignRelease:
    """A release the user's shop may download now: another shop's is not found; a revoked one or
    one whose licence closed is refused, saying why."""
    release = releases_for_shop(user=user).filter(design_file_id=file_id).first()
    if release is None:
        raise Http404("No design released to your shop has this id.")
    if release.revoked_at is not None:
        raise DomainError(
            "This release was revoked: the order's funding did not stand.",
            code="release_revoked",
            status=403,
        )
    if release.licence.closed_at is not None:
        raise DomainError(
            "The licence for this job is closed (the order is settled): the design is no "
            "longer available.",
            code="licence_closed",
            status=403,
        )
    return release


def tickets_for_shop(*, user: User, job_id: int) -> QuerySet[PrintTicket]:
    organization = user.organization
    if organization is None:
        return PrintTicket.objects.none()
    return PrintTicket.objects.filter(
        licence__organization=organization, licence__order__job_id=job_id
    ).select_related("licence")


def order_for_shop(*, user: User, job_id: int) -> Order:
    """The shop's order for a job it won (404 for anyone else's)."""
    organization = user.organization
    order = (
        Order.objects.select_related("job").filter(job_id=job_id, shop=organization).first()
        if organization is not None
        else None
    )
    if order is None:
        raise Http404("Your shop has no order for this job.")
    return order


def part_records_for_shop(
    *, user: User, job_id: int, part_serial: str | None = None, kind: str | None = None
) -> QuerySet[PartRecord]:
    records = PartRecord.objects.filter(order=order_for_shop(user=user, job_id=job_id))
    if part_serial is not None:
        records = records.filter(part_serial=part_serial)
    if kind is not None:
        records = records.filter(kind=kind)
    return (
        records.select_related("order").prefetch_related("evidence").order_by("part_serial", "seq")
    )


# --- track and trace ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    record: PartRecord
    anchor: AnchorState
    # The live record no longer hashes to what was anchored (changed in the database).
    altered: bool


@dataclass
class PartTimeline:
    part_serial: str
    entries: list[TimelineEntry] = field(default_factory=list)
    # Numbers missing from the part's sequence: entries deleted from the database.
    missing: list[int] = field(default_factory=list)
    # Entries anchored for this part whose rows are gone (their leaves remain).
    removed: int = 0
    # Anchored batches holding this part's records that lost records with their leaves.
    broken_batches: list[int] = field(default_factory=list)
    certificate: Certificate | None = None
    # The part's verdict on its records now (printshops.quality.part_verdict).
    verdict: PartVerdict | None = None

    @property
    def latest(self) -> PartRecord | None:
        return self.entries[-1].record if self.entries else None

    @property
    def shipped(self) -> bool:
        return any(entry.record.kind == PartRecord.Kind.SHIPPED for entry in self.entries)

    @property
    def failing(self) -> bool:
        return bool(self.missing or self.removed or self.broken_batches) or any(
            entry.altered for entry in self.entries
        )


def order_part_timelines(*, order: Order) -> list[PartTimeline]:
    """Each part of the order (every part a print ticket names) with its records in sequence,
    their anchoring states, and whether any was altered or removed since it was anchored."""
    records = list(
        PartRecord.objects.filter(order=order)
        .select_related("order")
        .prefetch_related("evidence")
        .order_by("part_serial", "seq")
    )
    states = anchor_states("part_record", [str(record.pk) for record in records])
    parts: dict[str, PartTimeline] = {
        serial: PartTimeline(serial)
        for serial in PrintTicket.objects.filter(licence__order=order)
        .order_by("number")
        .values_list("part_serial", flat=True)
    }
    for record in records:
        state = states[str(record.pk)]
        parts.setdefault(record.part_serial, PartTimeline(record.part_serial)).entries.append(
            TimelineEntry(record, state, part_record_altered(record, state.record_hash))
        )
    for certificate in Certificate.objects.filter(order=order):
        if certificate.part_serial in parts:
            parts[certificate.part_serial].certificate = certificate
    _removed_and_broken(order, parts, {str(record.pk) for record in records})
    required = order.job.required_characteristics or []
    for part in parts.values():
        altered = {entry.record for entry in part.entries if entry.altered}
        part.verdict = part_verdict(
            [entry.record for entry in part.entries],
            required=required,
            altered=altered.__contains__,
        )
        numbers = {entry.record.seq for entry in part.entries}
        # Entries listed on the part's certificate count too: the last one may be gone.
        highest = max([*numbers, len(part.certificate.records) if part.certificate else 0, 0])
        part.missing = [seq for seq in range(1, highest + 1) if seq not in numbers]
    return list(parts.values())


def _removed_and_broken(order: Order, parts: dict[str, PartTimeline], present: set[str]) -> None:
    """Mark parts whose anchored records were deleted: rows gone while their leaves remain, and
    batches that hold fewer leaves than the chain committed to (rows deleted with leaves)."""
    prefix = part_scope(order, "")
    leaves = RecordLeaf.objects.filter(kind="part_record", scope__startswith=prefix).values_list(
        "record_id", "scope", "batch_id"
    )
    batches_of: dict[str, set[int]] = {}
    for record_id, scope, batch_id in leaves:
        serial = scope[len(prefix) :]
        part = parts.setdefault(serial, PartTimeline(serial))
        if record_id not in present:
            part.removed += 1
        if batch_id is not None:
            batches_of.setdefault(serial, set()).add(batch_id)
    broken = set(
        AnchorBatch.objects.filter(pk__in=set().union(*batches_of.values()))
        .annotate(present=Count("leaves"))
        .filter(present__lt=F("leaf_count"))
        .values_list("pk", flat=True)
    )
    for serial, batch_ids in batches_of.items():
        parts[serial].broken_batches = sorted(batch_ids & broken)


def public_record(*, record_id: uuid.UUID) -> PartRecord | Certificate:
    """A part record or certificate by its id, for the public verification page: its id is the
    capability (random, printed on the certificate's QR code)."""
    found: PartRecord | Certificate | None = (
        PartRecord.objects.select_related("order__job", "order__shop")
        .prefetch_related("evidence")
        .filter(pk=record_id)
        .first()
    )
    if found is None:
        found = (
            Certificate.objects.select_related("order__job__organization", "order__shop")
            .filter(pk=record_id)
            .first()
        )
    if found is None:
        raise Http404("No record or certificate has this id.")
    return found


def _of_own_order(user: User, job_id: int) -> Q:
    """Rows of an order the user's organisation is a party to: the customer whose job it is,
    or the shop that won it (nobody else; no organisation, no rows)."""
    organization = user.organization
    if organization is None:
        return Q(pk__in=[])
    parties = Q(order__job__organization=organization) | Q(order__shop=organization)
    return parties & Q(order__job_id=job_id)


def certificate_for_user(*, user: User, job_id: int, certificate_id: uuid.UUID) -> Certificate:
    """A certificate of the user's own job (the customer) or own order (the shop)."""
    certificate = (
        Certificate.objects.select_related("order__job__organization", "order__shop")
        .filter(_of_own_order(user, job_id), pk=certificate_id)
        .first()
    )
    if certificate is None:
        raise Http404("No such certificate.")
    return certificate


def evidence_for_user(*, user: User, job_id: int, evidence_id: uuid.UUID) -> EvidenceFile:
    """An evidence file of the user's own job (the customer) or own order (the shop)."""
    evidence = EvidenceFile.objects.filter(_of_own_order(user, job_id), pk=evidence_id).first()
    if evidence is None:
        raise Http404("No such evidence file.")
    return evidence


@dataclass(frozen=True)
class IncludedCheck:
    """A record a certificate lists: the record now (None if gone), its check, and whether it is
    still the record the certificate listed."""

    record_id: str
    record: PartRecord | None
    check: RecordCheck
    as_listed: bool


@dataclass(frozen=True)
class Verification:
    subject: PartRecord | Certificate
    check: RecordCheck
    included: list[IncludedCheck] = field(default_factory=list)
    # A certificate's verdict over the records it lists (printshops.quality.part_verdict, as the
    # quality gate decides): a listed record changed since, or no longer the one listed, decides
    # nothing.
    verdict: PartVerdict | None = None

    @property
    def status(self) -> str:
        """The page's verdict: "failed" if anything failed, else "verified" once every part is
        verified, else the first of "unreachable" and "pending"."""
        checks = [self.check, *(item.check for item in self.included)]
        if any(check.failed for check in checks) or not all(i.as_listed for i in self.included):
            return "failed"
        for status in ("unreachable", "pending"):
            if any(check.status == status for check in checks):
                return status
        return "verified"


def verification_for(*, subject: PartRecord | Certificate, on_chain: bool = True) -> Verification:
    """Check a record (or a certificate and every record it lists) against what was anchored
    and, when `on_chain`, against the roots on chain."""
    roots: dict[str, int] = {}
    if isinstance(subject, PartRecord):
        check = record_check("part_record", str(subject.pk), on_chain=on_chain, roots=roots)
        return Verification(subject, check)
    check = record_check("certificate", str(subject.pk), on_chain=on_chain, roots=roots)
    records = {
        str(record.pk): record
        for record in PartRecord.objects.filter(
            order=subject.order, pk__in=[entry["id"] for entry in subject.records]
        ).prefetch_related("evidence")
    }
    included = []
    for entry in subject.records:
        record_id = str(entry["id"])
        item_check = record_check("part_record", record_id, on_chain=on_chain, roots=roots)
        included.append(
            IncludedCheck(
                record_id=record_id,
                record=records.get(record_id),
                check=item_check,
                as_listed=item_check.anchor.record_hash == entry.get("record_hash"),
            )
        )
    untrusted = {
        item.record_id for item in included if item.check.status == "altered" or not item.as_listed
    }
    verdict = part_verdict(
        [item.record for item in included if item.record is not None],
        required=subject.order.job.required_characteristics or [],
        altered=lambda record: str(record.pk) in untrusted,
    )
    return Verification(subject, check, included, verdict)


def proof_bundle_for(*, subject: PartRecord | Certificate) -> dict[str, Any]:
    """The subject's proof bundle (printfair/proofs.py); a certificate's includes its records'."""
    if isinstance(subject, PartRecord):
        bundle = proof_bundle("part_record", str(subject.pk))
    else:
        included = [
            item
            for item in (proof_bundle("part_record", str(entry["id"])) for entry in subject.records)
            if item is not None
        ]
        bundle = proof_bundle("certificate", str(subject.pk), included=included)
    if bundle is None:
        raise Http404("No record or certificate has this id.")
    return bundle


@dataclass(frozen=True)
class TicketRow:
    ticket: PrintTicket
    # The anchoring transaction of the ticket's record, once its batch is sealed.
    anchor: ChainTx | None


@dataclass(frozen=True)
class LicenceView:
    """What the customer sees of the design release: the licence, its releases and tickets."""

    licence: Licence
    releases: list[DesignRelease]
    tickets: list[TicketRow]

    @property
    def percent_taken(self) -> int:
        return round(100 * self.licence.prints_taken / max(self.licence.prints_allowed, 1))


def job_licence(*, job: Job) -> LicenceView | None:
    """The licence of the job's order, with every ticket and its anchoring state; None before
    the escrow is funded."""
    licence = (
        Licence.objects.filter(order__job=job).select_related("organization", "issue_tx").first()
    )
    if licence is None:
        return None
    tickets = list(licence.tickets.order_by("number"))
    leaves = {
        leaf.record_id: leaf
        for leaf in RecordLeaf.objects.filter(
            kind="print_ticket", record_id__in=[str(t.pk) for t in tickets]
        ).select_related("batch__chain_tx")
    }
    rows = []
    for ticket in tickets:
        leaf = leaves.get(str(ticket.pk))
        batch = leaf.batch if leaf is not None else None
        rows.append(TicketRow(ticket=ticket, anchor=batch.chain_tx if batch is not None else None))
    return LicenceView(
        licence=licence,
        releases=list(licence.releases.select_related("design_file")),
        tickets=rows,
    )


def payout_state(*, organization: Organization) -> dict[str, object]:
    """A shop's balance on the AuctionHouse, its withdrawal nonce and its payouts so far."""
    profile = PrintShopProfile.objects.filter(organization=organization).first()
    address = profile.eth_address if profile is not None else ""
    if not address:
        raise DomainError(
            "Register the shop's Ethereum address first (PUT /api/v1/shop/keys/).",
            code="no_shop_key",
            status=409,
        )
    w3 = request_web3_client()
    house = job_selectors.chain_read(lambda: contract(w3, AUCTION_HOUSE))
    return {
        "address": address,
        "pending": str(
            job_selectors.chain_read(lambda: int(house.functions.pendingWithdrawal(address).call()))
        ),
        "nonce": job_selectors.chain_read(lambda: int(house.functions.nonces(address).call())),
        "payouts": job_selectors.payouts_for_organization(organization=organization),
    }
