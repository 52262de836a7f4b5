"""Reads for a print shop, scoped to it (STYLE.md rules 1 and 7): its API keys, the chain it
signs against, its releases, tickets, orders and part records, its payouts; and what a
customer sees of the licence of its job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from config.errors import DomainError
from ledger.chain import chain_config, request_web3_client
from ledger.contracts import AUCTION_HOUSE, TEST_STABLECOIN, contract
from ledger.models import ChainTx, Deployment, RecordLeaf
from marketplace import selectors as job_selectors
from marketplace.models import Job, Order, Organization, Payout, User
from marketplace.money import SETTLEMENT_DECIMALS
from printshops.models import (
    ApiKey,
    DesignRelease,
    Licence,
    PartRecord,
    PrintShopProfile,
    PrintTicket,
)


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
        "withdrawing": withdrawals_in_flight(address=address),
        "payouts": job_selectors.payouts_for_organization(organization=organization),
    }


def payout_withdraw_key(address: str) -> str:
    """The idempotency key of the shop's withdrawals, before the nonce each is signed for
    (services.orders.payout_withdraw): withdrawals_in_flight finds them by it."""
    return f"payout.withdraw:{address}:"


def withdrawals_in_flight(*, address: str) -> list[ChainTx]:
    """The address's withdrawals on their way: relayed, not failed, and not yet a payout (the
    final Withdrawn event, indexed). Once one is mined the balance reads 0 at the latest block,
    while its payout waits for finality: shown here, it never drops out of sight in between."""
    if not address:
        return []
    paid = Payout.objects.filter(account__iexact=address).values("event__tx_hash")
    return list(
        ChainTx.objects.filter(idempotency_key__startswith=payout_withdraw_key(address))
        .exclude(status__in=[ChainTx.Status.FAILED, ChainTx.Status.REPLACED])
        .exclude(tx_hash__in=paid)
        .order_by("pk")
    )
