#!/usr/bin/env python
"""Sealed bids (DESIGN.md section 3, steps 4 to 6): API throughput on PostgreSQL, relaying with
batching, and gas per bid, on a database and an anvil of its own.

(a) Signed bids accepted per second through the shop API (POST /api/v1/jobs/{id}/bids/: API-key
    authentication, the EIP-712 signature check, the job lock, the Bid row, its outbox row and
    its audit event), served by gunicorn with 2 sync workers over loopback to client threads
    that send bids pre-signed by --shops shops on fresh jobs; against a bare endpoint of the same
    server in the same run (bench/bids_urls.py: the same API-key authentication, permission and
    throttle, the same JSON body parsed, {"ok": true} back), sent the same requests with the
    same keys. Goal: ratio >= 0.5. Then several bids a request (POST /api/v1/bids/): each
    shop's bids on --bulk-jobs other jobs (40), one request per shop, new bids in the first
    round and new versions of them in the next, in bids accepted per second against the bare
    endpoint's requests per second. Goal: >= 3x. Beside each, its floor (bench/bids_urls.py): the
    same bids, on other fresh jobs, through an endpoint that checks the signatures and writes the
    same rows in one prepared SQL statement and does nothing else: the ratio no bid path could
    beat on this stack, which says whether a goal not met is in reach.
(b) Commitments relayed on chain per second: the commitFor rows that (a)'s single bids queued,
    sent by chaintx_process() passes (calls batched into commitMany transactions of
    CALLS_PER_TX) until final; against a bare web3.py loop sending the same commitFor calls one
    transaction each
    (build with gas estimate, sign, send, wait for the receipt polling every 1 ms; nonce and
    fees fetched once), as bench/chain.py's baseline. Both start from the same chain snapshot.
    Goal: ratio >= 20.
(c) Gas per bid, from receipts: a commitment sent by the shop itself (commit), relayed alone
    (commitFor, the median of (b)'s bare loop) and relayed in a batch (commitMany, per bid); a
    reveal (through bid_reveal and the sender); and settling one auction: finalize (through
    auctions_finalize_due and the sender), fund (after the customer's ERC-20 approve),
    markDelivered, release and the winner's withdraw, sent directly.

The chain is a fresh anvil in automine mode (a block per transaction) with a new mnemonic and the
engine's finality rule depth:0; the database a new PostgreSQL database on --pg, dropped at the
end. Results go to bench/results/bids.json.

    make bench    # or: .venv/bin/python -m bench.bids [--shops 50] [--jobs 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import BENCH_CHAIN_ID, ROOT, bench_job_spec, django_with_anvil, start_chain
from ledger.anvil import free_port

CHAIN_ID = BENCH_CHAIN_ID
FINALITY = "depth:0"
USD = 10**6  # the settlement token has six decimals
LEAD_TIME_DAYS = 10
RECEIPT_POLL = 0.001
PASS_DEADLINE = 300.0
# Seconds without progress after which automine anvil is taken to have stalled (foundry#10122).
STALL_AFTER = 1.0
REVEALS = 5
WARM_BARE_REQUESTS = 200


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a killed `make bench`): unwind through the finally blocks that stop the server
    # and anvil and drop the database.
    raise SystemExit(128 + signum)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new PostgreSQL database with a unique name on `server`, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"printfair_bench_{uuid.uuid4().hex[:12]}"
    server = server.rstrip("/")
    try:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"bench.bids needs PostgreSQL at {server} (--pg), as CI has (DEVELOPERS.md): {exc}"
        ) from None
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def tetrahedron_stl() -> bytes:
    """A small watertight binary STL (a 100 mm tetrahedron): every job's design file."""
    a, b, c, d = (0.0, 0.0, 0.0), (100.0, 0.0, 0.0), (0.0, 100.0, 0.0), (0.0, 0.0, 100.0)
    faces = [(a, c, b), (a, b, d), (a, d, c), (b, c, d)]
    body = b"".join(struct.pack("<12fH", 0.0, 0.0, 0.0, *p, *q, *r, 0) for p, q, r in faces)
    return b"PrintFair bids benchmark".ljust(80, b" ") + struct.pack("<I", len(faces)) + body


def http_request(path: str, token: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 POST, built once so that the client spends next to nothing per request."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def exchange(port: int, request: bytes) -> bytes:
    """Send one request on a new connection and read the response until the server closes it
    (gunicorn's sync workers close every connection after its response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Load:
    seconds: float
    statuses: Counter[int]
    # The first response with another status than `expected`, to say what went wrong.
    unexpected: bytes

    def per_second(self) -> float:
        return sum(self.statuses.values()) / self.seconds


def fire(port: int, requests: list[bytes], clients: int, expected: int) -> Load:
    """Send `requests` from `clients` threads, each taking the next one as soon as it has its
    answer; the seconds from the first request to the last answer."""
    order = itertools.count()
    statuses = [0] * len(requests)
    unexpected: list[bytes] = []

    def client() -> None:
        while (index := next(order)) < len(requests):
            try:
                response = exchange(port, requests[index])
                status = int(response[9:12])
            except (OSError, ValueError) as exc:
                response, status = repr(exc).encode(), -1
            statuses[index] = status
            if status != expected and not unexpected:
                unexpected.append(response[:2000])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(time.perf_counter() - started, Counter(statuses), b"".join(unexpected))


class Server:
    """gunicorn with sync workers (the product's wsgi with the bench settings), on loopback."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(workers),
                "--worker-class", "sync",
                "--backlog", "2048",
                "--timeout", "120",
                "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/bench/api/ok/")
                connection.getresponse().read()  # any answer (401 here) means it is up
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the benchmark server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Shop:
    user: Any
    account: Any
    token: str


@dataclass
class SealedBid:
    shop: Shop
    job_id: int
    preimage: Any  # printfair.eip712.Bid
    body: bytes


class Bench:
    def __init__(self, scratch: Path, database_url: str) -> None:
        self.env, self.anvil = django_with_anvil(
            scratch,
            finality=FINALITY,
            DJANGO_SETTINGS_MODULE="bench.bids_settings",
            DATABASE_URL=database_url,
            # The throttle counts in each worker's memory: nothing of this run reaches the
            # Redis that development or CI use.
            REDIS_URL="",
            # The work a bid costs is measured here, not the rate limit.
            PRINTFAIR_API_RATE="1000000/min",
        )
        self.anvil_log = scratch / "anvil.log"
        self.random = random.Random(1)

    def start(self) -> None:
        from django.conf import settings

        from ledger.contracts import contract

        assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
        self.config, self.account, self.w3 = start_chain(self.anvil)
        self.house = contract(self.w3, "AuctionHouse")
        self.token = contract(self.w3, "TestStablecoin")

    def stop(self) -> None:
        from django.db import connections

        self.anvil.stop()
        connections.close_all()

    # --- the market -------------------------------------------------------------------------

    def populate(self, shops: int, jobs: int) -> None:
        """Verified shops with registered keys and API keys, and published jobs whose auctions
        are on chain."""
        from django.utils.crypto import get_random_string

        from marketplace.models import User
        from marketplace.services import user_sign_up

        password = get_random_string(24)
        self.admin = User.objects.create_superuser(email="ops@bench.example", password=password)
        self.customer = user_sign_up(
            email="buyer@bench.example",
            password=password,
            name="Buyer",
            organization_name="Bench Customer",
            kind="customer",
        )
        self.shops = [self._shop(n, password) for n in range(shops)]
        design = tetrahedron_stl()
        self.jobs = [self._job(design) for _ in range(jobs)]
        self.settle()

    def _shop(self, n: int, password: str) -> Shop:
        from eth_account import Account

        from marketplace.services import user_sign_up
        from printfair.keys import registration_message, sign_registration
        from printshops.services import (
            ShopCapabilities,
            api_key_create,
            shop_key_challenge_create,
            shop_keys_register,
            shop_profile_update,
            shop_verify,
        )

        user = user_sign_up(
            email=f"shop{n}@bench.example",
            password=password,
            name=f"Shop {n}",
            organization_name=f"Bench Shop {n}",
            kind="print_shop",
        )
        profile = shop_profile_update(
            actor=user,
            capabilities=ShopCapabilities(
                description="", website="", country="DE", city="Berlin",
                processes=["sls"], materials=["pa12"], certifications=[],
                build_x_mm=300, build_y_mm=300, build_z_mm=300,
            ),
        )  # fmt: skip
        shop_verify(actor=self.admin, profile=profile)
        account = Account.create()
        challenge = shop_key_challenge_create(actor=user)
        hpke_public_key = os.urandom(32)
        message = registration_message(
            shop_id=challenge.organization_id, address=account.address, hpke_kem="x25519",
            hpke_public_key=hpke_public_key, challenge=challenge.challenge,
        )  # fmt: skip
        shop_keys_register(
            actor=user, challenge=challenge.challenge, address=account.address,
            signature=sign_registration(account.key, message), hpke_kem="x25519",
            hpke_public_key=hpke_public_key,
        )  # fmt: skip
        _, token = api_key_create(actor=user, name="bench", expires_at=None)
        return Shop(user=user, account=account, token=token)

    def _job(self, design: bytes) -> Any:
        from datetime import timedelta

        from marketplace.services import design_file_attach, job_create, job_publish
        from marketplace.uploads import encrypt_chunks

        job = job_create(
            actor=self.customer,
            spec=bench_job_spec(
                reserve=500, bidding=timedelta(hours=1), revealing=timedelta(hours=1)
            ),
        )
        design_file_attach(
            actor=self.customer, job=job, upload=encrypt_chunks("bracket.stl", [design])
        )
        return job_publish(actor=self.customer, job=job)

    def sealed_bids(self, jobs: list[Any], version: int = 1) -> list[SealedBid]:
        """One bid of every shop on each of `jobs`, signed by the shop's key, in random order."""
        from printfair.eip712 import Bid, new_salt, sign_sealed_bid

        bids = []
        for job in jobs:
            for shop in self.shops:
                price = self.random.randrange(100, 450) * USD
                preimage = Bid(job.pk, shop.account.address, price, LEAD_TIME_DAYS, new_salt())
                signature = sign_sealed_bid(
                    shop.account.key, chain_id=CHAIN_ID, contract=self.house.address,
                    job_id=job.pk, commitment=preimage.commitment(), version=version,
                )  # fmt: skip
                body = {
                    "commitment": "0x" + preimage.commitment().hex(),
                    "version": version,
                    "signature": "0x" + signature.hex(),
                }
                bids.append(SealedBid(shop, job.pk, preimage, json.dumps(body).encode()))
        self.random.shuffle(bids)
        return bids

    # --- the sender -------------------------------------------------------------------------

    def settle(self, rows: Any = None) -> int:
        """chaintx_process() passes until `rows` (default: all) are final; returns the passes.
        Automine anvil can stop mining a burst part-way (foundry#10122, DESIGN.md section 4): a
        block mined by hand after STALL_AFTER without progress gets it going."""
        from ledger.anvil import rpc
        from ledger.models import ChainTx
        from ledger.services.sender import chaintx_process

        rows = ChainTx.objects.all() if rows is None else rows
        passes = 0
        started = last_progress = time.perf_counter()
        while rows.exclude(status=ChainTx.Status.FINAL).exists():
            failed = rows.filter(status=ChainTx.Status.FAILED).first()
            if failed is not None:
                raise RuntimeError(f"{failed.idempotency_key} failed: {failed.error}")
            if time.perf_counter() - started > PASS_DEADLINE:
                states = Counter(rows.values_list("status", flat=True))
                raise RuntimeError(f"not all final after {passes} passes: {states}")
            report = chaintx_process(w3=self.w3)
            passes += 1
            if any(vars(report).values()):
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > STALL_AFTER:
                rpc(self.anvil.url, "evm_mine")
                last_progress = time.perf_counter()
            else:
                time.sleep(0.005)
        return passes

    # --- direct transactions ----------------------------------------------------------------

    def transact(self, call: Any, nonce: int, fees: dict[str, Any], sender: Any = None) -> Any:
        """Build (with eth_estimateGas), sign, send and wait for the receipt of one call."""
        sender = sender or self.account
        tx = call.build_transaction(
            {"from": sender.address, "chainId": CHAIN_ID, "nonce": nonce, **fees}
        )
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=60, poll_latency=RECEIPT_POLL
        )
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} reverted")
        return receipt

    def send_as(self, sender: Any, call: Any) -> int:
        """One call from `sender`'s own key; its gas used."""
        from ledger.contracts import fee_fields

        nonce = self.w3.eth.get_transaction_count(sender.address, "pending")
        fees = dict(fee_fields(self.w3, self.config.fee_mode))
        return int(self.transact(call, nonce, fees, sender)["gasUsed"])

    def give_ether(self, address: str) -> None:
        from ledger.contracts import fee_fields

        tx: Any = {
            "from": self.account.address,
            "to": address,
            "value": 10**18,
            "gas": 21_000,
            "chainId": CHAIN_ID,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            **fee_fields(self.w3, self.config.fee_mode),
        }
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=RECEIPT_POLL)

    def pass_deadline(self, job: Any, deadline: str) -> None:
        """Past one of the job's deadlines, in the database and on the chain (where it trails
        by CHAIN_RELAY_MARGIN)."""
        from datetime import timedelta

        from django.utils import timezone

        from ledger.anvil import rpc
        from marketplace.models import Job

        # The deadline the AuctionHouse enforces: chain_commit_deadline or chain_reveal_deadline.
        chain_deadline = getattr(Job.objects.get(pk=job.pk), f"chain_{deadline}")
        assert chain_deadline is not None, "the auction is not queued"
        on_chain = int(chain_deadline.timestamp())
        Job.objects.filter(pk=job.pk).update(**{deadline: timezone.now() - timedelta(seconds=1)})
        latest = self.w3.eth.get_block("latest")["timestamp"]
        rpc(self.anvil.url, "evm_setNextBlockTimestamp", max(latest, on_chain) + 1)
        rpc(self.anvil.url, "evm_mine")

    # --- (a) bids through the API -----------------------------------------------------------

    def api(
        self,
        rounds: list[list[SealedBid]],
        floor_rounds: list[list[SealedBid]],
        bulk_rounds: list[list[SealedBid]],
        floor_bulk_rounds: list[list[SealedBid]],
        warm: list[SealedBid],
        args: Any,
    ) -> dict[str, Any]:
        from ledger.models import ChainTx
        from printshops.models import Bid

        def real(bids: list[SealedBid]) -> list[bytes]:
            return [
                http_request(f"/api/v1/jobs/{b.job_id}/bids/", b.shop.token, b.body) for b in bids
            ]

        def bulk(bids: list[SealedBid], path: str = "/api/v1/bids/") -> list[bytes]:
            # Each shop's bids on the round's jobs in one request.
            entries: dict[str, list[dict[str, Any]]] = {}
            for b in bids:
                entries.setdefault(b.shop.token, []).append({"job": b.job_id, **json.loads(b.body)})
            return [
                http_request(path, token, json.dumps({"bids": mine}).encode())
                for token, mine in entries.items()
            ]

        def accepted(load: Load, bids: list[SealedBid], version: int, what: str) -> None:
            stored = Bid.objects.filter(job__in={b.job_id for b in bids}, version=version).count()
            if stored != len(bids):
                raise RuntimeError(
                    f"{what}: {stored} of {len(bids)} bids stored: "
                    f"{dict(load.statuses)}; first refusal: {load.unexpected[:600]!r}"
                )

        def bare(bids: list[SealedBid]) -> list[bytes]:
            return [http_request("/bench/api/ok/", b.shop.token, b.body) for b in bids]

        def floor(bids: list[SealedBid]) -> list[bytes]:
            return [
                http_request(f"/bench/api/bid-floor/{b.job_id}/", b.shop.token, b.body)
                for b in bids
            ]

        server = Server(self.env, args.workers)
        try:
            fire(server.port, bare(warm)[:WARM_BARE_REQUESTS], args.clients, 200)
            fire(server.port, real(warm), args.clients, 201)
            # (b) relays the single bids only: the bulk rounds go first, and their relays (with
            # the warm-up's) are sent before the single bids come.
            bulk_bids_s, floor_bulk_bids_s = [], []
            for version, (bulk_bids, floor_bids) in enumerate(
                zip(bulk_rounds, floor_bulk_rounds, strict=True), start=1
            ):
                load = fire(server.port, bulk(bulk_bids), args.clients, 200)
                accepted(load, bulk_bids, version, "several bids a request")
                bulk_bids_s.append(len(bulk_bids) / load.seconds)
                self.settle()
                load = fire(
                    server.port, bulk(floor_bids, "/bench/api/bids-floor/"), args.clients, 200
                )
                accepted(load, floor_bids, version, "the floor's several bids a request")
                floor_bulk_bids_s.append(len(floor_bids) / load.seconds)
            results: dict[str, list[Load]] = {"bids": [], "bare": [], "floor": []}
            for bids, floor_bids in zip(rounds, floor_rounds, strict=True):
                results["bare"].append(fire(server.port, bare(bids), args.clients, 200))
                load = fire(server.port, real(bids), args.clients, 201)
                accepted(load, bids, 1, "single bids")
                results["bids"].append(load)
                load = fire(server.port, floor(floor_bids), args.clients, 201)
                accepted(load, floor_bids, 1, "the floor's bids")
                results["floor"].append(load)
            for load in results["bare"]:
                if load.statuses[200] != sum(load.statuses.values()):
                    raise RuntimeError(f"bare endpoint: {load.unexpected[:600]!r}")
            # The floors' relays are not the product's: (b) relays the single bids' only.
            ChainTx.objects.filter(idempotency_key__startswith="bench.floor:").update(
                status=ChainTx.Status.FAILED, error="bench/bids_urls.py's floor: not sent"
            )
        finally:
            server.stop()
        bids_s = statistics.median(load.per_second() for load in results["bids"])
        bare_s = statistics.median(load.per_second() for load in results["bare"])
        bulk_s = statistics.median(bulk_bids_s)
        floor_s = statistics.median(load.per_second() for load in results["floor"])
        floor_bulk_s = statistics.median(floor_bulk_bids_s)
        return {
            "bids_per_round": len(rounds[0]),
            "bids_s": bids_s,
            "bare_s": bare_s,
            "ratio": bids_s / bare_s,
            "floor_bids_s": floor_s,
            "floor_ratio": floor_s / bare_s,
            "bulk_bids_per_request": len(bulk_rounds[0]) // len(self.shops),
            "bulk_bids_s": bulk_s,
            "bulk_ratio": bulk_s / bare_s,
            "floor_bulk_bids_s": floor_bulk_s,
            "floor_bulk_ratio": floor_bulk_s / bare_s,
            "rounds_bulk_bids_s": bulk_bids_s,
            "rounds_bids_s": [load.per_second() for load in results["bids"]],
            "rounds_bare_s": [load.per_second() for load in results["bare"]],
            "rounds_floor_s": [load.per_second() for load in results["floor"]],
        }

    # --- (b) relaying -----------------------------------------------------------------------

    def relay(self) -> dict[str, Any]:
        """The queued commitFor rows: a bare loop from the snapshot, back to the snapshot, then
        the engine (last, so that the database and the chain agree afterwards)."""
        from ledger.anvil import rpc
        from ledger.models import ChainTx
        from ledger.services.sender.signing import CALLS_PER_TX

        rows = ChainTx.objects.filter(function="commitFor", status=ChainTx.Status.PENDING).order_by(
            "id"
        )
        ids = list(rows.values_list("pk", flat=True))
        calls = [row.args for row in rows]
        snapshot = rpc(self.anvil.url, "evm_snapshot")
        bare = self.bare_relay(calls)
        if rpc(self.anvil.url, "evm_revert", snapshot) is not True:
            raise RuntimeError("anvil did not revert to the snapshot")
        relayed = ChainTx.objects.filter(pk__in=ids)
        started = time.perf_counter()
        passes = self.settle(relayed)
        seconds = time.perf_counter() - started
        heads = list(relayed.filter(batch_head__isnull=True).values_list("gas_used", flat=True))
        engine = {
            "bids_s": len(ids) / seconds,
            "seconds": seconds,
            "passes": passes,
            "txs": len(heads),
            "gas_per_bid": sum(gas or 0 for gas in heads) / len(ids),
        }
        return {
            "bids": len(ids),
            "calls_per_tx": CALLS_PER_TX,
            "engine": engine,
            "bare": bare,
            "ratio": engine["bids_s"] / bare["bids_s"],
        }

    def bare_relay(self, calls: list[list[Any]]) -> dict[str, Any]:
        from ledger.contracts import fee_fields

        gas = []
        started = time.perf_counter()
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        fees = dict(fee_fields(self.w3, self.config.fee_mode))
        for n, args in enumerate(calls):
            receipt = self.transact(self.house.functions.commitFor(*args), nonce + n, fees)
            gas.append(int(receipt["gasUsed"]))
        seconds = time.perf_counter() - started
        return {
            "bids_s": len(calls) / seconds,
            "seconds": seconds,
            "gas_per_bid": statistics.median(gas),
        }

    # --- (c) gas ----------------------------------------------------------------------------

    def gas(self, spare_job: Any, auction: list[SealedBid]) -> dict[str, Any]:
        """A direct commit on `spare_job` (no bids yet), then `auction`'s job revealed (REVEALS
        of its bids), finalized and settled."""
        from ledger.models import ChainTx
        from marketplace.models import CustomerWallet, Job
        from marketplace.services import auctions_finalize_due, customer_wallet_account
        from printfair.eip712 import Bid, new_salt
        from printshops.services import bid_reveal

        shop = self.shops[0]
        self.give_ether(shop.account.address)
        own = Bid(spare_job.pk, shop.account.address, 300 * USD, LEAD_TIME_DAYS, new_salt())
        direct = self.send_as(
            shop.account, self.house.functions.commit(spare_job.pk, own.commitment(), 1)
        )

        job = Job.objects.get(pk=auction[0].job_id)
        revealing = auction[:REVEALS]
        self.pass_deadline(job, "commit_deadline")
        for bid in revealing:
            p = bid.preimage
            bid_reveal(
                actor=bid.shop.user, job_id=job.pk, price=p.price,
                lead_time_days=p.lead_time_days, salt=p.salt,
            )  # fmt: skip
        reveals = ChainTx.objects.filter(function="reveal")
        self.settle(reveals)
        reveal_gas = [
            int(gas or 0) for gas in reveals.order_by("id").values_list("gas_used", flat=True)
        ]

        self.pass_deadline(job, "reveal_deadline")
        if auctions_finalize_due() != 1:
            raise RuntimeError("the auction was not due for finalizing")
        finalize = ChainTx.objects.filter(function="finalize")
        self.settle(finalize)
        finalize_gas = int(finalize.get().gas_used or 0)

        outputs = self.house.get_function_by_name("auction").abi["outputs"][0]["components"]
        state = dict(
            zip(
                [c["name"] for c in outputs],
                self.house.functions.auction(job.pk).call(),
                strict=True,
            )
        )
        winner = next(b.shop for b in revealing if b.shop.account.address == state["winner"])
        wallet = CustomerWallet.objects.get(organization=job.organization)
        customer = customer_wallet_account(wallet=wallet)
        self.give_ether(customer.address)
        self.give_ether(winner.account.address)
        self.send_as(self.account, self.token.functions.mint(customer.address, state["price"]))
        approve = self.send_as(
            customer, self.token.functions.approve(self.house.address, state["price"])
        )
        fund = self.send_as(customer, self.house.functions.fund(job.pk))
        deliver = self.send_as(self.account, self.house.functions.markDelivered(job.pk))
        release = self.send_as(customer, self.house.functions.release(job.pk))
        withdraw = self.send_as(winner.account, self.house.functions.withdraw())
        return {
            "commit_direct": direct,
            "reveal": reveal_gas,
            "finalize": finalize_gas,
            "approve": approve,
            "fund": fund,
            "mark_delivered": deliver,
            "release": release,
            "withdraw": withdraw,
        }


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<52s} {value:>14s}   {note}".rstrip())


def report(args: Any, api: dict[str, Any], relay: dict[str, Any], gas: dict[str, Any]) -> None:
    engine, bare = relay["engine"], relay["bare"]
    print(
        "Sealed bids: PostgreSQL (a fresh database), anvil in automine mode, engine finality "
        f"{FINALITY}."
    )
    print(
        f"(a) Bids accepted per second through the API, {api['bids_per_round']} bids a round "
        f"({args.shops} shops x {args.jobs} fresh jobs), median of {args.rounds}; gunicorn, "
        f"{args.workers} sync workers, {args.clients} client threads over loopback:"
    )
    line("POST /api/v1/jobs/{id}/bids/, every bid accepted", f"{api['bids_s']:.1f} bids/s")
    line("bare authenticated endpoint, same requests and keys", f"{api['bare_s']:.1f} req/s")
    line("ratio", f"{api['ratio']:.3f}", "(goal >= 0.5)")
    line(
        "the floor: signature + the rows in one SQL statement",
        f"{api['floor_bids_s']:.1f} bids/s",
        "(bench/bids_urls.py; other fresh jobs)",
    )
    line("its ratio: the most any bid path could reach", f"{api['floor_ratio']:.3f}")
    line(
        f"POST /api/v1/bids/, each shop's {api['bulk_bids_per_request']} bids in one request",
        f"{api['bulk_bids_s']:.1f} bids/s",
        "(other jobs: new bids, then new versions)",
    )
    line("against the bare endpoint's requests/s", f"{api['bulk_ratio']:.2f}x", "(goal >= 3)")
    line(
        "the floor: signatures + all rows in one SQL statement",
        f"{api['floor_bulk_bids_s']:.1f} bids/s",
        "(bench/bids_urls.py; other jobs)",
    )
    line("its ratio: the most any bulk bid path could reach", f"{api['floor_bulk_ratio']:.2f}x")
    print(f"(b) Commitments relayed on chain per second, the {relay['bids']:,d} bids of (a):")
    line(
        "engine: outbox rows, chaintx_process() passes",
        f"{engine['bids_s']:.1f} bids/s",
        f"({engine['txs']} commitMany txs of up to {relay['calls_per_tx']} bids, "
        f"{engine['passes']} passes, {engine['seconds']:.2f} s)",
    )
    line(
        "bare web3.py loop, one commitFor tx per bid",
        f"{bare['bids_s']:.1f} bids/s",
        f"({bare['seconds']:.2f} s)",
    )
    line("ratio", f"{relay['ratio']:.1f}x", "(goal >= 20)")
    reveals = gas["reveal"]
    print("(c) Gas, from receipts:")
    line("commit sent by the shop itself (commit)", f"{gas['commit_direct']:,d}")
    line("commit relayed alone (commitFor), median", f"{bare['gas_per_bid']:,.0f}")
    line("commit relayed in a batch (commitMany), per bid", f"{engine['gas_per_bid']:,.0f}")
    line(
        f"reveal, {len(reveals)} reveals: min / median / max",
        f"{min(reveals):,d} / {statistics.median(reveals):,.0f} / {max(reveals):,d}",
    )
    line("finalize", f"{gas['finalize']:,d}")
    line("fund", f"{gas['fund']:,d}", f"(after the customer's approve: {gas['approve']:,d})")
    line("markDelivered", f"{gas['mark_delivered']:,d}")
    line("release (by the customer)", f"{gas['release']:,d}")
    line("withdraw (the winning shop)", f"{gas['withdraw']:,d}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--shops", type=int, default=50, help="shops, each with its key")
    parser.add_argument("--jobs", type=int, default=10, help="fresh jobs per round of (a)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a); the median counts")
    parser.add_argument(
        "--bulk-jobs",
        type=int,
        default=40,
        help="jobs each shop bids on in one request (at most the API's 100)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    args = parser.parse_args()
    for name in ("shops", "jobs", "rounds", "workers", "clients", "bulk_jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.bulk_jobs > 100:
        parser.error("--bulk-jobs must be at most 100 (the bids one request may carry)")
    if args.shops < REVEALS:
        parser.error(f"--shops must be at least {REVEALS}")
    signal.signal(signal.SIGTERM, _terminate)

    with (
        tempfile.TemporaryDirectory(prefix="printfair-bench-bids-") as scratch_name,
        fresh_database(args.pg) as database_url,
    ):
        bench = Bench(Path(scratch_name), database_url)
        try:
            bench.start()
            # A warm-up job, a spare job for (c)'s direct commit, --rounds sets of fresh jobs for
            # single bids and as many for their floor, --bulk-jobs for several bids a request
            # (new bids, then new versions of them) and as many for its floor.
            bench.populate(args.shops, 2 + 2 * (args.rounds * args.jobs + args.bulk_jobs))
            warm_job, spare_job, *jobs = bench.jobs
            warm = bench.sealed_bids([warm_job])
            rounds, floor_rounds = (
                [
                    bench.sealed_bids(jobs[r * args.jobs : (r + 1) * args.jobs])
                    for r in range(first, first + args.rounds)
                ]
                for first in (0, args.rounds)
            )
            bulk_jobs = jobs[2 * args.rounds * args.jobs :]
            bulk_rounds, floor_bulk_rounds = (
                [bench.sealed_bids(these, version=r + 1) for r in range(args.rounds)]
                for these in (bulk_jobs[: args.bulk_jobs], bulk_jobs[args.bulk_jobs :])
            )
            api = bench.api(rounds, floor_rounds, bulk_rounds, floor_bulk_rounds, warm, args)
            relay = bench.relay()
            first_job = rounds[0][0].job_id
            gas = bench.gas(spare_job, [b for b in rounds[0] if b.job_id == first_job])
        except BaseException:
            if bench.anvil_log.exists():
                tail = bench.anvil_log.read_text(errors="replace").splitlines()[-20:]
                print("anvil log (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
            raise
        finally:
            bench.stop()

    report(args, api, relay, gas)
    results = {
        "shops": args.shops,
        "workers": args.workers,
        "clients": args.clients,
        "api": {
            k: [round(x, 1) for x in v] if isinstance(v, list) else round(v, 3)
            for k, v in api.items()
        },
        "relay": relay,
        "gas": gas,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "bids.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
