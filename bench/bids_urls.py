"""bench/urls.py plus the endpoints bench/bids.py and bench/records.py compare with, not in the
product's URLs (the record's floor is bench/record_floor.py's):

- the baseline: an API endpoint with the shop API's defaults (API-key authentication, the
  authenticated-only permission, the per-key throttle) that parses the same JSON body as a bid
  and answers {"ok": true}. The framework's own ceiling for an authenticated POST.
- the bids' floors: the least a bid can cost on this stack. The baseline's work, the bid's
  EIP-712 signature checked, and the bid's three rows (the outbox's commitFor call, the Bid
  itself, its audit event) written with the job locked in ONE prepared SQL statement, in
  autocommit (one round trip with its commit), built by hand: no ORM, no serializer, no Celery
  wake-up. The bulk floor sends a request's bids through the same statement, all their rows in
  it.
  They skip the checks the product makes against the job and the shop (eligibility, the
  refusals' reasons), so they are bounds no implementation of the product's bids can beat, not
  second implementations. tests/ledger/test_bid_floor.py checks that their rows are a bid's."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, NamedTuple

import psycopg
from django.db import connection
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.record_floor import RecordFloorApi
from bench.urls import urlpatterns as bench_urlpatterns
from ledger.chain import chain_config, operator_account
from ledger.contracts import AUCTION_HOUSE, contract_address
from printfair.eip712 import verify_sealed_bid_signature
from printshops.models import ApiKey


class BareApi(APIView):
    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the body, as the bid endpoint does
        return Response({"ok": True})


# Each bid's job locked, and only while bidding is open; its outbox row (kept if the key was
# queued before); the bid inserted or replaced by a higher version; its audit event. The rows of
# all of a request's bids (one for the single floor) in one statement.
FLOOR_SQL = """
WITH given AS (
    SELECT * FROM unnest(
        %(jobs)s::bigint[], %(keys)s::text[], %(calls)s::jsonb[], %(commitments)s::text[],
        %(versions)s::bigint[], %(signatures)s::bytea[]
    ) AS g (job, key, call, commitment, version, signature)
), job AS (
    SELECT j.id, j.auction_tx_id, given.* FROM marketplace_job j JOIN given ON given.job = j.id
    WHERE j.status = 'open' AND j.commit_deadline > now()
    ORDER BY j.id
    FOR UPDATE OF j
), relay AS (
    INSERT INTO ledger_chaintx (
        idempotency_key, chain_id, sender, contract, function, args, status,
        max_fee_per_gas, max_priority_fee_per_gas, tx_hash, block_hash, attempts, error,
        replaced_hashes, waits_for_id, created_at, updated_at
    )
    SELECT job.key, %(chain)s, %(operator)s, 'AuctionHouse', 'commitFor', job.call, 'pending',
        '', '', '', '', 0, '', '[]', job.auction_tx_id, now(), now()
    FROM job
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), bid AS (
    INSERT INTO printshops_bid (
        job_id, organization_id, shop_address, commitment, version, signature, status,
        commit_tx_id, created_at, updated_at
    )
    SELECT job.id, %(organization)s, %(shop)s, job.commitment, job.version, job.signature,
        'committed', relay.id, now(), now()
    FROM job JOIN relay ON relay.idempotency_key = job.key
    ON CONFLICT (job_id, organization_id) DO UPDATE SET
        shop_address = excluded.shop_address, commitment = excluded.commitment,
        version = excluded.version, signature = excluded.signature,
        commit_tx_id = excluded.commit_tx_id, updated_at = excluded.updated_at
    WHERE printshops_bid.version < excluded.version
    RETURNING id, job_id, version
), audit AS (
    INSERT INTO marketplace_auditevent (
        verb, target_type, target_id, data, actor_id, organization_id, created_at
    )
    SELECT 'bid.committed', 'printshops.bid', bid.id::text,
        jsonb_build_object('job', bid.job_id, 'version', bid.version), %(actor)s,
        %(organization)s, now()
    FROM bid
)
SELECT job_id, id FROM bid
"""


@cache
def _chain() -> tuple[int, str, str]:
    chain_id = chain_config().chain_id
    return chain_id, contract_address(AUCTION_HOUSE, chain_id), operator_account().address


class _Checked(NamedTuple):
    """A bid whose signature is the shop's, with its outbox row's key and arguments."""

    job: int
    key: str
    call: str  # the outbox row's arguments, as JSON
    commitment: str
    version: int
    signature: bytes


def _checked(shop: str, job_id: int, data: Any) -> _Checked:
    chain_id, auction_house, _ = _chain()
    commitment, signature = data["commitment"], bytes.fromhex(data["signature"][2:])
    version = int(data["version"])
    verify_sealed_bid_signature(
        signature,
        chain_id=chain_id,
        contract=auction_house,
        job_id=job_id,
        shop=shop,
        commitment=bytes.fromhex(commitment[2:]),
        version=version,
    )
    call = json.dumps([job_id, shop, commitment, version, data["signature"]])
    key = f"bench.floor:{job_id}:{shop}:{version}"
    return _Checked(job_id, key, call, commitment, version, signature)


def _run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """`sql` with server-side binding, prepared once per connection (not planned again for
    every request), in autocommit: the statement is its own transaction."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _floor(request: Request, entries: list[tuple[int, Any]]) -> list[tuple[Any, ...]]:
    """The (job, bid id) of each of `entries` (job id, body) stored; a stale one is left out."""
    key: ApiKey = request.auth  # type: ignore[assignment]
    chain_id, _, operator = _chain()
    shop = key.organization.shop_profile.eth_address
    bids = [_checked(shop, job_id, data) for job_id, data in entries]
    columns = {
        f"{name}s": list(values)
        for name, values in zip(_Checked._fields, zip(*bids, strict=True), strict=True)
    }
    params = {
        "chain": chain_id,
        "operator": operator,
        "organization": key.organization_id,
        "shop": shop,
        "actor": request.user.pk,
    }
    return _run(FLOOR_SQL, params | columns)


class BidFloorApi(APIView):
    def post(self, request: Request, job_id: int) -> Response:
        rows = _floor(request, [(job_id, request.data)])
        if not rows:
            return Response({"refused": True}, status=409)
        return Response({"job": job_id, "bid": rows[0][1]}, status=201)


class BidsFloorApi(APIView):
    def post(self, request: Request) -> Response:
        given: Any = request.data
        rows = _floor(request, [(int(entry["job"]), entry) for entry in given["bids"]])
        return Response({"accepted": [{"job": job, "bid": bid} for job, bid in rows]})


urlpatterns = [
    path("bench/api/ok/", BareApi.as_view()),
    path("bench/api/bid-floor/<int:job_id>/", BidFloorApi.as_view()),
    path("bench/api/bids-floor/", BidsFloorApi.as_view()),
    path("bench/api/record-floor/<int:job_id>/", RecordFloorApi.as_view()),
    *bench_urlpatterns,
]
