"""printshops.services.bid_rows: on PostgreSQL an accepted bid's rows (its outbox row, the Bid,
its audit event) are written in one statement, elsewhere through the ORM. Both must write the
same rows, and the statement must keep the outbox's rule that a key queued before stands."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test import Client

from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue
from marketplace.models import AuditEvent, Job, User
from printfair.eip712 import verify_sealed_bid_signature
from printshops.models import Bid
from printshops.services import bids as bid_services
from tests.scenarios import bids_url, sealed

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"
)

ANSWER_DIFFERENT = {
    "job",
    "title",
    "commitment",
    "commit_deadline",
    "reveal_deadline",
    "updated_at",
}
# What differs between two jobs' bids of the same shop, or between two writes.
DIFFERENT = {"id", "job", "commitment", "signature", "created_at", "updated_at", "commit_tx"}


def written(market: dict[str, Any], job: Job) -> dict[str, Any]:
    """Every column of the rows the bids on `job` left, but what necessarily differs."""
    bid = Bid.objects.get(job=job)
    verify_sealed_bid_signature(  # the commitment and signature are the latest version's
        bytes(bid.signature),
        chain_id=31337,
        contract=market["house"],
        job_id=job.pk,
        shop=bid.shop_address,
        commitment=bytes.fromhex(bid.commitment[2:]),
        version=bid.version,
    )
    relays = ChainTx.objects.filter(function="commitFor", args__0=job.pk).order_by("id")
    events = AuditEvent.objects.filter(target_type="printshops.bid", target_id=str(bid.pk))
    return {
        "bid": {k: v for k, v in model_to_dict(bid).items() if k not in DIFFERENT},
        "relays": [
            {
                **{k: v for k, v in model_to_dict(relay).items() if k not in DIFFERENT},
                "idempotency_key": relay.idempotency_key.replace(f":{job.pk}:", ":JOB:"),
                "args": [len(str(value)) for value in relay.args],
                "waits_for": relay.waits_for_id == job.auction_tx_id,
            }
            for relay in relays
        ],
        "current relay": bid.commit_tx_id == relays.last().pk,  # type: ignore[union-attr]
        "events": [
            (e.verb, e.actor_id, e.organization_id, e.data["version"], e.data["job"] == job.pk)
            for e in events.order_by("id")
        ],
    }


def test_the_statement_writes_what_the_orm_writes(
    market: dict[str, Any],
    winning_shop: User,
    api_client: Callable[[User], Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    through_orm, in_one_statement = market["jobs"]
    client = api_client(winning_shop)
    with connection.cursor() as cursor:  # bids' ids unlike their jobs', so that no mix-up hides
        cursor.execute("SELECT setval(pg_get_serial_sequence('printshops_bid', 'id'), 100)")

    def bid(job: Job, version: int) -> dict[str, Any]:
        _, body = sealed(market, winning_shop, job, 400_000_000, version=version)
        response = client.post(bids_url(job), body, content_type="application/json")
        assert response.status_code == 201, response.json()
        answer: dict[str, Any] = response.json()
        return answer

    answers = {}
    for version in (1, 2):  # a new bid, then its replacement
        with monkeypatch.context() as patched:
            patched.setattr(bid_services, "connection", SimpleNamespace(vendor="sqlite"))
            answers["orm", version] = bid(through_orm, version)
        answers["sql", version] = bid(in_one_statement, version)
    # then
    assert written(market, in_one_statement) == written(market, through_orm)
    for version in (1, 2):  # the answers too, but for the job's own fields and the times
        orm, sql = (
            {k: v for k, v in answers[path, version].items() if k not in ANSWER_DIFFERENT}
            for path in ("orm", "sql")
        )
        assert sql == orm and sql["version"] == version and sql["relay"]["status"] == "pending"


def test_a_relay_queued_before_stands(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    job = market["jobs"][0]
    bid, body = sealed(market, winning_shop, job, 400_000_000)
    key = f"bid.commit:{job.pk}:{bid.shop}:1"
    with transaction.atomic():
        queued = chaintx_enqueue(
            idempotency_key=key, contract="AuctionHouse", function="commitFor", args=[]
        )
    ChainTx.objects.filter(pk=queued.pk).update(status=ChainTx.Status.FAILED, error="gone")
    # when
    response = api_client(winning_shop).post(bids_url(job), body, content_type="application/json")
    # then: the bid cites the row that stands, and the answer shows it as it is
    assert response.status_code == 201, response.json()
    assert Bid.objects.get(job=job).commit_tx_id == queued.pk
    assert ChainTx.objects.filter(idempotency_key=key).count() == 1
    relay = response.json()["relay"]
    assert (relay["status"], relay["error"]) == ("failed", "gone")
    assert AuditEvent.objects.filter(verb="bid.committed").count() == 1
