"""What people wait on does not cost more as the market grows (issue 18, "fast where users wait";
the figures at 100,000 jobs: bench/scaling.py). Each test counts the rows PostgreSQL reads for a
page or an indexer pass, with a small and a larger market around it, and asks for the same
count: every scan's rows, those its filters threw away included, from EXPLAIN ANALYZE of the
SELECTs it ran, with fresh statistics (`assert_flat`).

Small tables make a walk over everything look cheap to the planner, so the plans are made with
sequential scans off, and by default plain index scans too: each table is then reached through
an index condition (a bitmap scan), or, when no index serves the query, read whole. A page read
in an index's order (the job list, the shop's orders) is counted with index scans on.

What a page reads of its own rows (the bidders' performance) may grow with them; what it reads of
everyone else's may not."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.handlers import chain_events_dispatch
from ledger.models import ChainEvent, ChainTx
from marketplace.models import DesignFile, Job, Order, User
from marketplace.selectors import escrow_call_key, job_chain_actions
from printshops.models import Bid, Licence
from tests import factories

postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="counts the rows PostgreSQL's plans read; set DATABASE_URL",
)

_serial = itertools.count(1)


def assert_flat(small: int, large: int) -> None:
    """The larger market's reads are the smaller's, give or take what a plan's bitmap or a
    statistics sample varies by (a few rows either way, seen on CI): a read that grew with the
    market would read hundreds of rows more."""
    assert large <= small + max(10, small // 4), f"{small} rows read, then {large}"


def rows_read(statements: list[str], *, index_walks: bool = False) -> int:
    """The rows the SELECTs among `statements` read, planned without sequential scans (and
    without plain index scans unless `index_walks`)."""
    switches = ["enable_seqscan"] + ([] if index_walks else ["enable_indexscan"])
    total = 0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        for switch in switches:
            cursor.execute(f"SET {switch} = off")
        try:
            for sql in statements:
                if sql.startswith("SELECT"):
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                    total += _scanned(cursor.fetchone()[0][0]["Plan"])
        finally:
            for switch in switches:
                cursor.execute(f"RESET {switch}")
    return total


def _scanned(node: dict[str, Any]) -> int:
    rows = 0
    if "Relation Name" in node:
        kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        rows = int(kept + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]
    return rows + sum(_scanned(child) for child in node.get("Plans", []))


def first_page_rows(client: Client, path: str) -> int:
    """The rows a list's first page reads, but for its page count ("Page 1 of 12"): the one
    statement that counts every row of the list (in an index)."""
    page = [sql for sql in statements(client, path) if not sql.startswith("SELECT COUNT")]
    return rows_read(page, index_walks=True)


def statements(client: Client, path: str) -> list[str]:
    """The SQL of a GET of `path`, after a first one (sessions, caches)."""
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200, path
    return [query["sql"] for query in captured.captured_queries]


# --- a market, straight into the database ---------------------------------------------------


def chain_event(
    contract: str, name: str, *, applied: bool = True, tx_hash: str = "", **args: object
) -> ChainEvent:
    """A final event as the indexer stores it (arguments as decimal strings or hex)."""
    event = chain_event_row(contract, name, applied=applied, tx_hash=tx_hash, **args)
    event.save()
    return event


def chain_event_row(
    contract: str, name: str, *, applied: bool = True, tx_hash: str = "", **args: object
) -> ChainEvent:
    """chain_event's row, not saved yet (for bulk_create)."""
    n = next(_serial)
    return ChainEvent(
        chain_id=settings.CHAIN_ID, block_number=n, block_hash=f"0x{n:064x}", log_index=0,
        tx_hash=tx_hash or f"0x{n:064x}", contract=contract, address="0x" + "11" * 20, name=name,
        args={key: str(value) for key, value in args.items()}, applied=applied,
    )  # fmt: skip


def chain_call(key: str) -> ChainTx:
    n = next(_serial)
    return ChainTx.objects.create(
        idempotency_key=key, chain_id=settings.CHAIN_ID, sender="0x" + "22" * 20,
        contract="AuctionHouse", function="call", status=ChainTx.Status.FINAL,
        tx_hash=f"0x{n:064x}", block_number=n,
    )  # fmt: skip


def design_file(job: Job, customer: User, *, applied: bool = True) -> DesignFile:
    """A design file whose registration is final on chain, its event `applied` or not yet."""
    n = next(_serial)
    owner_ref = job.organization.owner_ref
    registration = chain_call(f"design.register:{n:064x}:{owner_ref}")
    chain_event(
        "DesignRegistry", "DesignRegistered", applied=applied, tx_hash=registration.tx_hash,
        designHash=f"0x{n:064x}", ownerRef=owner_ref, timestamp=1_700_000_000,
    )  # fmt: skip
    return DesignFile.objects.create(
        job=job, original_name="part.stl", kind=DesignFile.Kind.STL_BINARY, size_bytes=1_000,
        sha256=f"{n:064x}", blob=f"{job.pk}/{n}", wrapped_key=b"wrapped", kek_version=1,
        uploaded_by=customer, registration=registration,
    )  # fmt: skip


def funded_job(customer: User, shops: list[User]) -> Job:
    """A customer's job as the indexer and the services leave it once funded: its auction and
    design file registered, every shop's bid revealed, the first shop's order with its escrow
    calls and events, the licence."""
    now = timezone.now()
    job = factories.JobFactory.create(
        created_by=customer, status=Job.Status.FUNDED, published_at=now - timedelta(days=4),
        commit_deadline=now - timedelta(days=3), reveal_deadline=now - timedelta(days=2),
        auction_tx=chain_call(f"auction.create:job:{next(_serial)}"),
    )  # fmt: skip
    chain_event("AuctionHouse", "AuctionCreated", applied=False, jobId=job.pk)
    design_file(job, customer)
    bidders = [shop.organization for shop in shops if shop.organization is not None]
    for rank, bidder in enumerate(bidders):
        address = f"0x{rank + 1:040x}"
        chain_event("AuctionHouse", "BidCommitted", jobId=job.pk, shop=address)
        Bid.objects.create(
            job=job, organization=bidder, shop_address=address, commitment="0x00",
            version=1, signature=b"", status=Bid.Status.REVEALED, price=100 + rank,
            lead_time_days=10,
            reveal_event=chain_event("AuctionHouse", "BidRevealed", jobId=job.pk, shop=address),
        )  # fmt: skip
    award = chain_event("AuctionHouse", "AuctionFinalized", jobId=job.pk)
    for verb in ("approve", "fund"):
        chain_call(escrow_call_key(verb, job.pk))
    order = Order.objects.create(
        job=job, shop=bidders[0], shop_address=f"0x{1:040x}", price=100,
        lead_time_days=10, status=Order.Status.FUNDED, award_event=award,
        last_event=chain_event("AuctionHouse", "EscrowFunded", jobId=job.pk),
        delivery_deadline=now + timedelta(days=10),
    )  # fmt: skip
    Licence.objects.create(order=order, organization=bidders[0], prints_allowed=11)
    return job


@pytest.fixture
def market(other_customer: User) -> Callable[[int], None]:
    """Grows the rest of the market to `jobs` funded jobs of another customer, on which other
    shops bid."""
    shops = [factories.print_shop(f"shop{n}@elsewhere.example", f"Elsewhere {n}") for n in range(2)]
    made = 0

    def grow(jobs: int) -> None:
        nonlocal made
        for _ in range(jobs - made):
            funded_job(other_customer, shops)
        made = jobs

    return grow


# --- the pages --------------------------------------------------------------------------------


@postgresql
def test_a_job_page_reads_as_much_whatever_the_rest_of_the_market_holds(
    customer: User,
    winning_shop: User,
    losing_shop: User,
    market: Callable[[int], None],
    login: Callable[[User | None], Client],
) -> None:
    """The job page looked for its escrow calls with a pattern over every outbox row, and for its
    money trail and its bids' first commitments through every chain event; a design's public
    proof, for its registrations through every chain event."""
    # given
    job = funded_job(customer, [winning_shop, losing_shop])
    pages = (f"/jobs/{job.pk}/", f"/designs/{job.files.get().sha256}/")
    client = login(customer)
    reads = []
    for jobs in (2, 20):
        market(jobs)
        # when
        reads.append([rows_read(statements(client, path)) for path in pages])
    # then
    for small, large in zip(*reads, strict=True):
        assert_flat(small, large)


@postgresql
def test_a_page_of_the_job_list_reads_as_much_whatever_the_customer_posted(
    customer: User, login: Callable[[User | None], Client]
) -> None:
    """The list counted the files of every job of the customer's, then sorted them all, to show
    a page."""
    client = login(customer)
    reads = []
    for jobs in (30, 300):
        posted = Job.objects.filter(organization=customer.organization).count()
        for job in factories.JobFactory.create_batch(jobs - posted, created_by=customer):
            design_file(job, customer)
        reads.append(first_page_rows(client, "/jobs/"))
    assert_flat(*reads)


@postgresql
def test_a_page_of_the_shops_orders_reads_as_much_whatever_the_shop_won(
    customer: User, winning_shop: User, login: Callable[[User | None], Client]
) -> None:
    """The shop's orders page listed every order the shop had ever won."""
    shop = winning_shop.organization
    assert shop is not None
    client = login(winning_shop)
    reads = []
    for orders in (100, 1_000):
        won = Order.objects.filter(shop=shop).count()
        jobs = Job.objects.bulk_create(
            factories.JobFactory.build_batch(
                orders - won, created_by=customer, status=Job.Status.ACCEPTED
            )
        )
        awards = ChainEvent.objects.bulk_create(
            chain_event_row("AuctionHouse", "AuctionFinalized", jobId=job.pk) for job in jobs
        )
        Order.objects.bulk_create(
            Order(
                job=job, shop=shop, shop_address=f"0x{1:040x}", price=100, lead_time_days=10,
                status=Order.Status.RELEASED, award_event=award,
            )
            for job, award in zip(jobs, awards, strict=True)
        )  # fmt: skip
        reads.append(first_page_rows(client, "/shop/orders/"))
    assert_flat(*reads)


@postgresql
def test_the_shop_apis_job_list_reads_as_much_whatever_the_closed_jobs(
    customer: User,
    winning_shop: User,
    market: Callable[[int], None],
    api_client: Callable[[User], Client],
) -> None:
    factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN)
    client = api_client(winning_shop)
    reads = []
    for jobs in (2, 20):
        market(jobs)
        reads.append(rows_read(statements(client, "/api/v1/jobs/")))
    assert_flat(*reads)


@postgresql
def test_dispatching_an_event_reads_as_much_whatever_the_events_before_it(
    customer: User, market: Callable[[int], None]
) -> None:
    """Dispatch walked every event in chain order to find the unapplied ones that a handler
    applies (those nothing handles stay unapplied: each job's AuctionCreated), and the
    DesignRegistered handler read every file of the registering customer's to find the hash's."""
    job = factories.JobFactory.create(created_by=customer)
    reads = []
    for jobs in (2, 20):
        market(jobs)
        while job.files.count() < jobs:
            design_file(job, customer)
        design_file(job, customer, applied=False)
        with CaptureQueriesContext(connection) as captured:
            assert chain_events_dispatch(chain_id=settings.CHAIN_ID) == 1
        reads.append(rows_read([query["sql"] for query in captured.captured_queries]))
    assert_flat(*reads)


def test_a_jobs_escrow_calls_are_found_by_their_keys_and_their_retries(customer: User) -> None:
    """What the job page lists (job_chain_actions) now that it no longer matches a pattern
    against every key: each escrow verb's call and its retries, not another job's."""
    job = factories.JobFactory.create(created_by=customer)
    other = factories.JobFactory.create(created_by=customer)
    ours = [
        chain_call(escrow_call_key("approve", job.pk)),
        chain_call(escrow_call_key("fund", job.pk)),
        chain_call(escrow_call_key("fund", job.pk) + "#2"),
        chain_call(escrow_call_key("auto_release", job.pk)),
    ]
    chain_call(escrow_call_key("fund", other.pk))
    chain_call(f"escrow.fund:job:{job.pk}0")  # the key of job 10 when this one is 1
    chain_call(f"auction.create:job:{job.pk}")
    assert list(job_chain_actions(job=job)) == ours[::-1]
    with pytest.raises(ValueError, match="escrow's verbs"):
        escrow_call_key("withdraw", job.pk)
