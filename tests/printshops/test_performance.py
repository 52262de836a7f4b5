"""A shop's performance (printshops/performance.py): on-time delivery, quality pass rate and
dispute outcomes, on its public profile and next to its revealed bids.

The rows are built directly, as the chain's final events and the anchoring would leave them:
orders in the states the escrow handlers set, quality records with their leaves, batches and
anchoring transactions (final or not)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import ChainEvent, ChainTx, RecordLeaf
from ledger.services.anchoring import anchor_batch_seal, record_leaf_add
from marketplace.models import Dispute, Job, Order, Organization, User
from printfair.canonical import record_hash
from printshops.models import Bid, EvidenceFile, PartRecord
from printshops.performance import (
    ShopPerformance,
    job_bids_ranked,
    shop_performance,
    shop_performances,
)
from printshops.records import part_record_content
from tests import factories

Login = Callable[[User | None], Client]

PRICE = 400_000_000  # 400.00 USD in base units
_serial = itertools.count(1)


def org(user: User) -> Organization:
    assert user.organization is not None
    return user.organization


def chain_event(name: str, job: Job, **args: Any) -> ChainEvent:
    n = next(_serial)
    return ChainEvent.objects.create(
        chain_id=31337,
        block_number=n,
        block_hash="0x" + f"{n:064x}",
        log_index=0,
        tx_hash="0x" + f"{n:064x}",
        contract="AuctionHouse",
        address="0x" + "a" * 40,
        name=name,
        args={"jobId": str(job.pk), **args},
        applied=True,
    )


def make_order(
    shop: User,
    customer: User,
    status: str,
    *,
    delivered: timedelta | None = None,
    deadline_in: timedelta = timedelta(days=-10),
    customer_amount: int | None = None,
) -> Order:
    """An order with its delivery deadline `deadline_in` from now, delivered `delivered` after
    (negative: before) that deadline, or not at all."""
    lead_time_days = 7
    deadline = timezone.now() + deadline_in
    reveal = deadline - timedelta(days=lead_time_days)
    job = factories.JobFactory.create(
        created_by=customer,
        commit_deadline=reveal - timedelta(days=1),
        reveal_deadline=reveal,
        status=Job.Status.AWARDED,
    )
    order = Order.objects.create(
        job=job,
        shop=org(shop),
        shop_address="0x" + "b" * 40,
        price=PRICE,
        lead_time_days=lead_time_days,
        status=status,
        award_event=chain_event("AuctionFinalized", job),
        # As EscrowFunded sets it (the funding time plus the lead time); none before funding.
        delivery_deadline=deadline if status != Order.Status.AWARDED else None,
        delivered_at=deadline + delivered if delivered is not None else None,
        customer_amount=customer_amount,
    )
    return order


def dispute(order: Order, customer: User, shop_amount: int | None = None) -> Dispute:
    return Dispute.objects.create(
        order=order,
        opened_by=customer,
        statement="Parts out of tolerance.",
        evidence_hash="0x" + "c" * 64,
        resolution_shop_amount=shop_amount,
    )


def quality_record(
    order: Order, passed: bool, *, leaf: bool = True, evidence: bool = False
) -> PartRecord:
    n = next(_serial)
    record = PartRecord.objects.create(
        order=order,
        part_serial=f"P-{n}",
        seq=1,
        kind=PartRecord.Kind.QUALITY,
        occurred_at=timezone.now() - timedelta(days=1),
        data={
            "characteristic": "bore",
            "nominal": "10.000",
            "measured": "10.010" if passed else "10.400",
        },
        characteristic="bore",
        passed=passed,
    )
    if evidence:
        content = f"measurement {n}".encode()
        record.evidence.add(
            EvidenceFile.objects.create(
                order=order,
                name=f"cmm-{n}.csv",
                content_type="text/csv",
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                blob=f"evidence/{n}",
            )
        )
    if leaf:
        record_leaf_add(
            kind="part_record", record_id=str(record.pk), record=part_record_content(record)
        )
    return record


def seal(*, final: bool) -> None:
    """Anchor every waiting leaf in one batch, its anchoring transaction final or still sent."""
    batch = anchor_batch_seal(force=True)
    assert batch is not None and batch.chain_tx is not None
    status = ChainTx.Status.FINAL if final else ChainTx.Status.BROADCAST
    ChainTx.objects.filter(pk=batch.chain_tx.pk).update(status=status)


@pytest.fixture
def history(winning_shop: User, losing_shop: User, customer: User) -> dict[str, Any]:
    """The winning shop's history: on-time, late and missed deliveries; disputes of every
    outcome; passed, failed, pending and altered quality records. The losing shop has one late
    delivery."""
    on_time = make_order(
        winning_shop, customer, Order.Status.RELEASED, delivered=-timedelta(days=1)
    )
    at_deadline = make_order(winning_shop, customer, Order.Status.RELEASED, delivered=timedelta(0))
    # late, then disputed and resolved half and half
    late = make_order(
        winning_shop,
        customer,
        Order.Status.RESOLVED,
        delivered=timedelta(hours=2),
        customer_amount=PRICE // 2,
    )
    dispute(late, customer, PRICE // 2)
    # the deadline passed undelivered: still funded, or refunded
    make_order(winning_shop, customer, Order.Status.FUNDED)
    make_order(winning_shop, customer, Order.Status.REFUNDED, customer_amount=PRICE)
    # not rated yet: in production before its deadline, or never funded
    make_order(winning_shop, customer, Order.Status.FUNDED, deadline_in=timedelta(days=5))
    make_order(winning_shop, customer, Order.Status.AWARDED)
    # disputes: still open, resolved all to the shop, resolved all back to the customer
    disputed = make_order(
        winning_shop, customer, Order.Status.DISPUTED, delivered=-timedelta(hours=1)
    )
    dispute(disputed, customer)
    favour = make_order(
        winning_shop,
        customer,
        Order.Status.RESOLVED,
        delivered=-timedelta(days=2),
        customer_amount=0,
    )
    dispute(favour, customer, PRICE)
    refunded = make_order(
        winning_shop,
        customer,
        Order.Status.RESOLVED,
        delivered=-timedelta(days=3),
        customer_amount=PRICE,
    )
    dispute(refunded, customer, 0)
    # a dispute asked for but not final on chain: the order is still delivered
    asked = make_order(winning_shop, customer, Order.Status.DELIVERED, delivered=-timedelta(days=1))
    dispute(asked, customer)

    # quality: anchored in a final batch
    passed = [quality_record(on_time, True, evidence=i == 0) for i in range(5)]
    failed = [quality_record(at_deadline, False) for _ in range(2)]
    production = PartRecord.objects.create(
        order=on_time, part_serial="P-0", seq=1, kind=PartRecord.Kind.PRINT_STARTED,
        occurred_at=timezone.now(), data={"machine": "EOS P396"},
    )  # fmt: skip
    record_leaf_add(
        kind="part_record", record_id=str(production.pk), record=part_record_content(production)
    )
    seal(final=True)
    # pending: in a batch not final yet, waiting for a batch, never queued
    quality_record(on_time, True)
    seal(final=False)
    quality_record(on_time, True)
    quality_record(on_time, False, leaf=False)
    # altered after anchoring: a measurement edited, a failure turned into a pass
    PartRecord.objects.filter(pk=passed[4].pk).update(data={**passed[4].data, "measured": "10.000"})
    PartRecord.objects.filter(pk=failed[1].pk).update(passed=True)

    make_order(losing_shop, customer, Order.Status.RELEASED, delivered=timedelta(days=1))
    return {"orders": {"late": late, "disputed": disputed}, "passed": passed, "failed": failed}


def test_the_track_record_counts_only_what_the_chain_and_the_anchors_support(
    history: dict[str, Any], winning_shop: User
) -> None:
    record = shop_performance(org(winning_shop))
    # deliveries: 6 on time (one exactly at the deadline), 1 late, 2 missed; 2 not rated
    assert (record.delivered_on_time, record.delivered_late, record.missed) == (6, 1, 2)
    assert record.deliveries_due == 9 and record.on_time_percent == 67
    # quality: 4 passed and 1 failed verified; 3 pending; 2 altered and left out
    assert (record.quality_passed, record.quality_failed) == (4, 1)
    assert (record.quality_pending, record.quality_altered) == (3, 2)
    assert record.quality_verified == 5 and record.quality_pass_percent == 80
    # disputes: only those the chain has; the one asked for but not final is not counted
    assert record.disputes_opened == 4
    assert (record.disputes_shop_favour, record.disputes_partial) == (1, 1)
    assert (record.disputes_refunded, record.disputes_open) == (1, 1)
    assert record.dispute_summary == (
        "4 disputes (1 in the shop's favour, 1 partial, 1 refunded, 1 open)"
    )
    assert record.orders_completed == 5  # 2 released, 3 resolved
    assert record.has_history


def test_an_altered_record_stays_altered_even_when_its_leaf_is_edited_to_match(
    history: dict[str, Any], winning_shop: User
) -> None:
    # given: someone also rewrites the altered record's stored hash
    record = PartRecord.objects.select_related("order").get(pk=history["failed"][1].pk)
    RecordLeaf.objects.filter(record_id=str(record.pk)).update(
        record_hash="0x" + record_hash(part_record_content(record)).hex()
    )
    # then: the rewritten hash does not lead to the leaf in the Merkle root anchored on chain
    figures = shop_performance(org(winning_shop))
    assert figures.quality_altered == 2 and figures.quality_passed == 4


def test_shops_are_counted_apart_and_a_new_shop_has_nothing_to_rate(
    history: dict[str, Any], winning_shop: User, losing_shop: User, stranger: User
) -> None:
    records = shop_performances([org(winning_shop).pk, org(losing_shop).pk, org(stranger).pk])
    assert records[org(winning_shop).pk].deliveries_due == 9
    losing = records[org(losing_shop).pk]
    assert (losing.delivered_on_time, losing.delivered_late, losing.on_time_percent) == (0, 1, 0)
    assert losing.quality_pass_percent is None and losing.dispute_summary == "no disputes"
    new = records[org(stranger).pk]
    assert new == ShopPerformance(organization_id=org(stranger).pk)
    assert new.on_time_percent is None and new.quality_pass_percent is None
    assert not new.has_history
    assert shop_performances([]) == {}


@pytest.mark.parametrize(
    ("part", "whole", "percent"),
    [(0, 0, None), (0, 3, 0), (1, 3, 33), (11, 12, 92), (199, 200, 99), (1, 1000, 1), (5, 5, 100)],
)
def test_percentages_never_claim_all_or_none_wrongly(
    part: int, whole: int, percent: int | None
) -> None:
    record = ShopPerformance(organization_id=1, delivered_on_time=part, missed=whole - part)
    assert record.on_time_percent == percent


# --- the public profile ---------------------------------------------------------------------


def test_the_public_profile_shows_a_verified_shop_and_its_record_without_login(
    history: dict[str, Any], winning_shop: User
) -> None:
    shop = org(winning_shop)
    shop.shop_profile.city, shop.shop_profile.country = "Eindhoven", "NL"
    shop.shop_profile.certifications = ["iso_9001"]
    shop.shop_profile.save()
    response = Client().get(reverse("shop_public_profile", args=[shop.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    # named only if the shop chose to be (DESIGN section 6): by default, by its number
    assert shop.name not in page and f"Print shop #{shop.pk}" in page
    assert "Eindhoven, NL" in page and 'id="verified"' in page
    assert "SLS (selective laser sintering)" in page and "PA12" in page and "ISO 9001" in page
    assert "300 × 300 × 300 mm" in page
    assert "67%" in page and "6 of 9 on time" in page
    assert "80%" in page and "4 of 5 measurements passed" in page
    assert "3 waiting for anchoring" in page and 'id="record-altered"' in page
    assert "2 quality records no longer match" in page
    assert "1 resolved in the shop's favour" in page and "1 still open" in page
    assert "From final chain events" in page
    assert "re-verified against their anchored hashes" in page


def test_a_shop_that_chose_to_be_named_is_named_on_its_public_profile(
    winning_shop: User, login: Login
) -> None:
    shop = org(winning_shop)
    form = {
        "processes": ["sls"], "materials": ["pa12"], "build_x_mm": "300", "build_y_mm": "300",
        "build_z_mm": "300", "name_public": "on",
    }  # fmt: skip
    response = login(winning_shop).post(reverse("shop_profile"), form)
    assert response.status_code == 302, response.content.decode()
    page = Client().get(reverse("shop_public_profile", args=[shop.pk])).content.decode()
    assert shop.name in page


def test_a_shop_without_history_says_so_rather_than_zero(losing_shop: User) -> None:
    page = Client().get(reverse("shop_public_profile", args=[org(losing_shop).pk])).content.decode()
    assert "No deliveries yet" in page and "No verified quality records yet" in page
    assert "0%" not in page and 'id="record-altered"' not in page


def test_only_verified_shops_have_a_public_profile(
    stranger: User, customer: User, login: Login
) -> None:
    for organization_id in (org(stranger).pk, org(customer).pk, 999_999):
        response = login(customer).get(reverse("shop_public_profile", args=[organization_id]))
        assert response.status_code == 404


def test_the_shop_links_its_own_page_to_its_public_profile(
    winning_shop: User, stranger: User, login: Login
) -> None:
    url = reverse("shop_public_profile", args=[org(winning_shop).pk])
    assert url in login(winning_shop).get(reverse("shop_profile")).content.decode()
    assert (
        'id="public-profile-link"'
        not in login(stranger).get(reverse("shop_profile")).content.decode()
    )


# --- next to the revealed bids --------------------------------------------------------------


def revealed_job(customer: User, shops: list[User]) -> Job:
    """A job past its reveal deadline with a revealed bid from each shop, cheapest first."""
    now = timezone.now()
    job = factories.JobFactory.create(
        created_by=customer,
        commit_deadline=now - timedelta(days=2),
        reveal_deadline=now - timedelta(days=1),
        status=Job.Status.REVEALING,
    )
    for index, shop in enumerate(shops):
        Bid.objects.create(
            job=job,
            organization=org(shop),
            shop_address="0x" + f"{index:040x}",
            commitment="0x" + "d" * 64,
            version=1,
            signature=b"",
            status=Bid.Status.REVEALED,
            price=PRICE + index * 10_000_000,
            lead_time_days=7,
            reveal_event=chain_event("BidRevealed", job),
        )
    return job


def test_the_job_page_shows_each_bidders_record(
    history: dict[str, Any], customer: User, winning_shop: User, losing_shop: User, login: Login
) -> None:
    job = revealed_job(customer, [winning_shop, losing_shop])
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    ranked = page[page.index('id="bids-ranked"') :]
    winning = ranked[ranked.index(f'data-record="{org(winning_shop).pk}"') :]
    winning = winning[: winning.index("</td>")]
    assert "67% on time (6/9)" in winning and "80% quality pass (4/5)" in winning
    assert "4 disputes (1 in the shop&#x27;s favour, 1 partial, 1 refunded, 1 open)" in winning
    assert "2 altered records" in winning
    assert reverse("shop_public_profile", args=[org(winning_shop).pk]) in winning
    losing = ranked[ranked.index(f'data-record="{org(losing_shop).pk}"') :]
    losing = losing[: losing.index("</td>")]
    assert "0% on time (0/1)" in losing and "no verified quality records yet" in losing
    assert "no disputes" in losing and "altered" not in losing


def test_equal_bids_rank_as_the_contract_decides_the_earliest_commitment_first(
    history: dict[str, Any], customer: User, winning_shop: User, losing_shop: User
) -> None:
    # given: equal prices; the shop with the weaker record committed first (its first
    # commitment, which a newer version does not move), the stronger one after
    job = revealed_job(customer, [winning_shop, losing_shop])
    Bid.objects.filter(job=job).update(price=PRICE)
    weak = Bid.objects.get(job=job, organization=org(losing_shop)).shop_address
    strong = Bid.objects.get(job=job, organization=org(winning_shop)).shop_address
    chain_event("BidCommitted", job, shop=weak, version="1")
    chain_event("BidCommitted", job, shop=strong, version="1")
    chain_event("BidCommitted", job, shop=weak, version="2")
    # when
    ranked = job_bids_ranked(job=job)
    # then: the AuctionHouse's winner is first, whatever the records say beside it
    assert ranked is not None
    assert [row.bid.organization_id for row in ranked] == [
        org(losing_shop).pk,
        org(winning_shop).pk,
    ]
    assert ranked[0].record.orders_completed == 1 and ranked[1].record.orders_completed == 5


def _shop_with_history(customer: User, n: int) -> User:
    shop = factories.print_shop(f"shop{n}@bidders.example", f"Bidder {n}")
    order = make_order(
        shop, customer, Order.Status.RESOLVED, delivered=timedelta(0), customer_amount=0
    )
    dispute(order, customer, PRICE)
    quality_record(order, True, evidence=True)
    return shop


def test_the_bids_table_takes_the_same_queries_for_one_bidder_as_for_five(
    customer: User, login: Login
) -> None:
    shops = [_shop_with_history(customer, n) for n in range(5)]
    seal(final=True)
    one, five = revealed_job(customer, shops[:1]), revealed_job(customer, shops)
    client = login(customer)
    counts = []
    for job in (one, five):
        with CaptureQueriesContext(connection) as selector_queries:
            ranked = job_bids_ranked(job=job)
        selector_count = len(selector_queries)  # now: a request clears the queries log
        assert ranked is not None and all(row.record.quality_passed == 1 for row in ranked)
        client.get(reverse("job_order_panel", args=[job.pk]))  # the customer's wallet is made once
        with CaptureQueriesContext(connection) as page_queries:
            page = client.get(reverse("job_order_panel", args=[job.pk])).content.decode()
        assert page.count("100% on time (1/1)") == len(ranked)
        counts.append((selector_count, len(page_queries)))
    assert counts[0] == counts[1], counts
    # the bids, their first commitments, order tallies, quality records, their evidence, leaves
    assert counts[0][0] <= 6


def test_no_figures_before_the_reveal_deadline(customer: User, winning_shop: User) -> None:
    job = revealed_job(customer, [winning_shop])
    Job.objects.filter(pk=job.pk).update(reveal_deadline=timezone.now() + timedelta(hours=1))
    job.refresh_from_db()
    assert job_bids_ranked(job=job) is None
