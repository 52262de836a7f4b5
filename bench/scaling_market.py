"""The market bench/scaling.py measures, grown in bulk to a number of jobs: jobs of several
customers with their design files, sealed bids of several shops, orders in every state, and the
ledger's rows that come with them (outbox calls, chain events), in the shapes the services and
handlers leave them in. Rows are written with COPY and explicit ids, a few thousand jobs at a
time, not through the services: 100,000 jobs in minutes.

Most of a grown market's jobs are settled; a tenth are open for bids. The first two jobs are the
ones bench/scaling.py opens: the first customer's open job (sealed bids) and its funded job
(revealed bids, an order, a licence)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

USD = 10**6  # the settlement token has six decimals
#: Jobs written per bulk round: the rows of one round are held in memory.
JOBS_PER_ROUND = 5_000
#: Twenty jobs in the states a grown market holds them in, cycled over the jobs.
LIFECYCLE = (
    *("accepted",) * 9,
    *("open", "funded") * 2,
    *("draft", "failed", "cancelled", "awarded", "delivered", "refunded", "resolved"),
)
#: The first jobs, which bench/scaling.py opens: their state and number of bids.
MEASURED = (("open", 3), ("funded", 5))
ORDER_STATUS = {
    "awarded": "awarded",
    "funded": "funded",
    "delivered": "delivered",
    "accepted": "released",
    "refunded": "refunded",
    "resolved": "resolved",
}
#: The escrow's steps that brought an order to its state.
ESCROW_PATH = {
    "awarded": (),
    "funded": ("fund",),
    "delivered": ("fund", "delivered"),
    "accepted": ("fund", "delivered", "accept"),
    "refunded": ("fund", "claim_refund"),
    "resolved": ("fund", "delivered", "dispute", "resolve"),
}
#: Each step's outbox calls (their idempotency keys' verbs) and chain events (contract, name);
#: the AuctionHouse's event is the order's last event.
STEPS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "fund": (
        ("escrow.approve", "escrow.fund", "licence.issue"),
        (("TestStablecoin", "Approval"), ("TestStablecoin", "Transfer"),
         ("DesignRegistry", "LicenceIssued"), ("AuctionHouse", "EscrowFunded")),
    ),
    "delivered": (("escrow.delivered",), (("AuctionHouse", "DeliveryRecorded"),)),
    "accept": (
        ("escrow.accept", "licence.close"),
        (("DesignRegistry", "LicenceClosed"), ("AuctionHouse", "EscrowReleased")),
    ),
    "claim_refund": (
        ("escrow.refund", "licence.close"),
        (("DesignRegistry", "LicenceClosed"), ("AuctionHouse", "EscrowRefunded")),
    ),
    "dispute": (("escrow.dispute",), (("AuctionHouse", "EscrowDisputed"),)),
    "resolve": (
        ("escrow.resolve", "licence.close"),
        (("DesignRegistry", "LicenceClosed"), ("AuctionHouse", "DisputeResolved")),
    ),
}  # fmt: skip
#: The calls a customer's wallet sends; the operator sends the rest.
CUSTOMER_CALLS = {
    "escrow.approve",
    "escrow.fund",
    "escrow.accept",
    "escrow.refund",
    "escrow.dispute",
}
PROCESSES = (("sls", "pa12"), ("fdm", "pla"), ("mjf", "pa12"), ("sla", "tough_resin"))
#: A design file's fields beside its job, name, hash and registration: a 2 MB closed STL.
DESIGN_FILE = {
    "kind": "stl_binary", "size_bytes": 2_000_084, "wrapped_key": bytes(60), "kek_version": 1,
    "triangle_count": 40_000, "size_x_mm": 120.0, "size_y_mm": 80.0, "size_z_mm": 40.0,
    "volume_cm3": 96.5, "watertight": True, "consistently_wound": True,
}  # fmt: skip


@dataclass(frozen=True)
class Party:
    """A customer or shop of the market: its organisation, a member, and its address on chain
    (a shop's registered key, a customer's paying wallet)."""

    organization: Any
    user: Any
    address: str


@dataclass
class _Rows:
    """One round's rows, by model, as the values of their fields (by attname), and the next id
    of each model."""

    next_id: dict[str, int]
    rows: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)

    def take(self, model: Any) -> int:
        pk = self.next_id[model.__name__]
        self.next_id[model.__name__] += 1
        return pk

    def add(self, model: Any, **fields: Any) -> Any:
        """A new row of `model` (a new id unless `fields` has one); returns its id."""
        if "id" not in fields:
            fields["id"] = self.take(model)
        self.rows.setdefault(model, []).append(fields)
        return fields["id"]

    def copy(self) -> None:
        """Writes the rows with COPY, each field as the model would save it: its default when
        not given, the time now for auto_now fields, JSON as the field adapts it (psycopg takes
        the other fields' Python values as they are)."""
        from django.db import DEFAULT_DB_ALIAS, connections
        from django.db.models import JSONField
        from django.utils import timezone

        # The connection itself, not django.db.connection's proxy: a million field values.
        connection = connections[DEFAULT_DB_ALIAS]
        now = timezone.now()
        quote = connection.ops.quote_name
        for model, rows in self.rows.items():
            fields = model._meta.concrete_fields
            defaults = [
                now
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                else f.get_default()
                for f in fields
            ]
            json = [isinstance(f, JSONField) for f in fields]
            columns = ", ".join(quote(f.column) for f in fields)
            sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    values = [row.get(f.attname, d) for f, d in zip(fields, defaults, strict=True)]
                    for n, field in enumerate(fields):
                        if json[n]:
                            values[n] = field.get_db_prep_save(values[n], connection)
                    copy.write_row(values)


class Market:
    """Grows the market in bulk (`grow`): `customers` post the jobs in turn (the first customer
    also the first two), `shops` bid on them. Chain events go into blocks `first_block` to
    `first_block + blocks - 1`, which the indexer has passed: a grown market's history."""

    def __init__(
        self,
        *,
        customers: list[Party],
        shops: list[Party],
        chain_id: int,
        operator: str,
        first_block: int,
        blocks: int,
    ) -> None:
        from ledger.contracts import contract_address, load_artifact

        self.customers, self.shops = customers, shops
        self.chain_id, self.operator = chain_id, operator
        self.first_block, self.blocks = first_block, blocks
        self.random = random.Random(18)
        self.jobs = 0
        names = ("AuctionHouse", "DesignRegistry", "TestStablecoin")
        self.addresses = {name: contract_address(name, chain_id) for name in names}
        self.abi = {
            (name, item["name"]): [(i["name"], i["type"]) for i in item["inputs"]]
            for name in names
            for item in load_artifact(name).abi
            if item["type"] == "event"
        }

    def grow(self, jobs: int) -> None:
        """Add jobs, with all that comes with them, until the market has `jobs`; then count the
        shops' orders again, and vacuum and analyse the database, as autovacuum keeps a
        production database."""
        from django.core.management.color import no_style
        from django.db import connection, transaction
        from django.db.models import Max
        from django.utils import timezone

        from ledger.handlers import chain_events_unapplied
        from ledger.models import ChainEvent, ChainTx
        from marketplace.models import Job, Order
        from marketplace.tallies import shop_order_tallies_rebuild
        from printshops.models import Bid, Licence

        models = (ChainTx, ChainEvent, Job, Bid, Order, Licence)
        next_id = {m.__name__: (m.objects.aggregate(top=Max("id"))["top"] or 0) + 1 for m in models}
        for start in range(self.jobs, jobs, JOBS_PER_ROUND):
            rows = _Rows(dict(next_id))
            self.now = timezone.now()
            for index in range(start, min(start + JOBS_PER_ROUND, jobs)):
                self._job(rows, index)
            with transaction.atomic():
                rows.copy()
                # The events a handler applies were applied; the others wait for one.
                chain_events_unapplied(
                    chain_id=self.chain_id, pk__gte=next_id["ChainEvent"]
                ).update(applied=True, applied_at=self.now)
            next_id = rows.next_id
        self.jobs = max(self.jobs, jobs)
        # The orders were copied around Order.save: their shops' tallies are counted again, as
        # `manage.py rebuild_order_tallies` does after an import.
        shop_order_tallies_rebuild()
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), list(models)):
                cursor.execute(statement)
            cursor.execute("VACUUM ANALYZE")

    # --- one job and what comes with it -------------------------------------------------------

    def _job(self, rows: _Rows, index: int) -> None:
        from marketplace.models import Job

        if index < len(MEASURED):
            state, bids = MEASURED[index]
            customer = self.customers[0]
        else:
            state, bids = LIFECYCLE[index % len(LIFECYCLE)], 1 + index % 3
            customer = self.customers[index % len(self.customers)]
        if state in ("draft", "cancelled"):
            bids = 0
        if state == "open":
            commit = self.now + timedelta(hours=6 + index % 168)
        else:
            commit = self.now - timedelta(days=10 + index % 365, minutes=index % 1440)
        reveal = commit + timedelta(days=1)
        job_id = rows.take(Job)
        quantity = 1 + index % 20
        reserve = Decimal(200 + index % 800)
        published = state != "draft"
        auction_tx = None
        if published:
            auction_tx = self._call(rows, f"auction.create:job:{job_id}", "createAuction")
            self._event(rows, "AuctionHouse", "AuctionCreated", jobId=job_id)
        cancel_tx = None
        if state == "cancelled":
            cancel_tx = self._call(rows, f"auction.cancel:job:{job_id}", "cancelAuction")
            self._event(rows, "AuctionHouse", "AuctionCancelled", jobId=job_id)
        process, material = PROCESSES[index % len(PROCESSES)]
        rows.add(
            Job, id=job_id, organization_id=customer.organization.pk,
            created_by_id=customer.user.pk, title=f"Bracket {index}", process=process,
            material=material, quantity=quantity, needed_by=(reveal + timedelta(days=40)).date(),
            reserve_price=reserve, commit_deadline=commit, reveal_deadline=reveal, status=state,
            envelope_a_mm=120.0, envelope_b_mm=80.0, envelope_c_mm=40.0,
            published_at=commit - timedelta(days=7) if published else None,
            auction_tx_id=auction_tx,
            chain_commit_deadline=commit + timedelta(minutes=1) if published else None,
            chain_reveal_deadline=reveal + timedelta(minutes=1) if published else None,
            cancelled_at=self.now if state == "cancelled" else None, cancel_tx_id=cancel_tx,
        )  # fmt: skip
        for number in range(1 + (index % 3 == 0)):
            self._design_file(rows, job_id, customer, number)
        if bids:
            self._bids(
                rows, job_id, index, state, bids, customer, int(reserve) * USD, quantity, reveal
            )

    def _design_file(self, rows: _Rows, job_id: int, customer: Party, number: int) -> None:
        from marketplace.models import DesignFile

        sha256 = self._hex()
        owner_ref = customer.organization.owner_ref
        registration = self._call(
            rows, f"design.register:{sha256}:{owner_ref}", "register", contract="DesignRegistry",
            args=["0x" + sha256, owner_ref],
        )  # fmt: skip
        self._event(
            rows, "DesignRegistry", "DesignRegistered", designHash="0x" + sha256, ownerRef=owner_ref
        )
        file_id = uuid.UUID(int=self.random.getrandbits(128), version=4)
        rows.add(
            DesignFile, id=file_id, job_id=job_id, original_name=f"part-{number}.stl",
            sha256=sha256, blob=f"designs/{file_id}", uploaded_by_id=customer.user.pk,
            registration_id=registration, **DESIGN_FILE,
        )  # fmt: skip

    def _bids(
        self,
        rows: _Rows,
        job_id: int,
        index: int,
        state: str,
        count: int,
        customer: Party,
        reserve: int,
        quantity: int,
        reveal: datetime,
    ) -> None:
        """`count` shops' bids, revealed once the reveal deadline passed: the first the lowest
        and the winner of an awarded job, all above the reserve of a failed one."""
        from printshops.models import Bid

        bidders = [self.shops[(index + n) % len(self.shops)] for n in range(count)]
        revealed = state != "open"
        for n, shop in enumerate(bidders):
            price = reserve + (n + 1) * USD if state == "failed" else reserve * (60 + 5 * n) // 100
            commit_tx = self._call(rows, f"bid.commit:{job_id}:{shop.address}:1", "commitFor")
            self._event(rows, "AuctionHouse", "BidCommitted", jobId=job_id, shop=shop.address)
            reveal_tx = reveal_event = None
            if revealed:
                reveal_tx = self._call(rows, f"bid.reveal:{job_id}:{shop.address}", "revealFor")
                reveal_event = self._event(
                    rows, "AuctionHouse", "BidRevealed", jobId=job_id, shop=shop.address,
                    price=price, leadTimeDays=10,
                )  # fmt: skip
            rows.add(
                Bid, job_id=job_id, organization_id=shop.organization.pk,
                shop_address=shop.address, commitment="0x" + self._hex(), version=1,
                signature=bytes(65), status="revealed" if revealed else "committed",
                commit_tx_id=commit_tx, price=price if revealed else None,
                lead_time_days=10 if revealed else None, reveal_tx_id=reveal_tx,
                reveal_event_id=reveal_event,
            )  # fmt: skip
        if state == "failed":
            self._call(rows, f"auction.finalize:job:{job_id}", "finalize")
            self._event(rows, "AuctionHouse", "AuctionFailed", jobId=job_id)
        elif state in ORDER_STATUS:
            price = reserve * 60 // 100
            self._order(rows, job_id, state, customer, bidders[0], price, quantity, reveal)

    def _order(
        self,
        rows: _Rows,
        job_id: int,
        state: str,
        customer: Party,
        winner: Party,
        price: int,
        quantity: int,
        reveal: datetime,
    ) -> None:
        from marketplace.models import Order
        from printshops.models import Licence

        funding_deadline = reveal + timedelta(hours=72)
        self._call(rows, f"auction.finalize:job:{job_id}", "finalize")
        award = self._event(
            rows, "AuctionHouse", "AuctionFinalized", jobId=job_id, winner=winner.address,
            price=price, leadTimeDays=10,
        )  # fmt: skip
        path = ESCROW_PATH[state]
        calls, last_event = {}, None
        for step in path:
            verbs, events = STEPS[step]
            for verb in verbs:
                sender = customer.address if verb in CUSTOMER_CALLS else None
                calls[verb] = self._call(rows, f"{verb}:job:{job_id}", verb, sender=sender)
            for contract, name in events:
                last_event = self._event(rows, contract, name, jobId=job_id)
        delivered = reveal + timedelta(days=8)
        settled = state in ("accepted", "resolved")
        order_id = rows.add(
            Order, job_id=job_id, shop_id=winner.organization.pk, shop_address=winner.address,
            price=price, lead_time_days=10, status=ORDER_STATUS[state], award_event_id=award,
            last_event_id=last_event, funding_deadline=funding_deadline,
            delivery_deadline=funding_deadline + timedelta(days=10) if path else None,
            delivered_at=delivered if "delivered" in path else None,
            claim_deadline=delivered + timedelta(days=7) if "delivered" in path else None,
            shop_amount=price * 97 // 100 if settled else None,
            fee=price * 3 // 100 if settled else None,
            customer_amount=price if state == "refunded" else None,
        )  # fmt: skip
        if "fund" in path:
            closed = "licence.close" in calls
            rows.add(
                Licence, order_id=order_id, organization_id=winner.organization.pk,
                prints_allowed=quantity, prints_taken=quantity if closed else 0,
                issue_tx_id=calls["licence.issue"], closed_at=delivered if closed else None,
                close_reason=state if closed else "", close_tx_id=calls.get("licence.close"),
            )  # fmt: skip

    # --- the ledger's rows ----------------------------------------------------------------------

    def _hex(self) -> str:
        return self.random.randbytes(32).hex()

    def _block(self) -> tuple[int, str]:
        number = self.first_block + self.random.randrange(self.blocks)
        return number, f"0x{number:064x}"

    def _made_up(self, abi_type: str) -> Any:
        if abi_type == "address":
            return self.operator
        if abi_type == "bool":
            return False
        if abi_type == "bytes32":
            return "0x" + self._hex()
        if abi_type == "bytes32[]":
            return ["0x" + self._hex()]
        return "1000"  # an unsigned integer

    def _call(
        self,
        rows: _Rows,
        key: str,
        function: str,
        *,
        contract: str = "AuctionHouse",
        args: list[Any] | None = None,
        sender: str | None = None,
    ) -> int:
        """A final outbox call; returns its id."""
        from ledger.models import ChainTx

        number, block_hash = self._block()
        return int(
            rows.add(
                ChainTx, idempotency_key=key, chain_id=self.chain_id,
                sender=sender or self.operator, contract=contract, function=function,
                args=args or [], status="final", tx_hash="0x" + self._hex(), block_number=number,
                block_hash=block_hash, gas_used=60_000, final_at=self.now,
            )
        )  # fmt: skip

    def _event(self, rows: _Rows, contract: str, name: str, **known: Any) -> int:
        """A chain event of `contract` with the arguments it has: `known` ones, the others made
        up by type, in the JSON form ledger/events.py stores (integers as decimal strings).
        Unapplied: `grow` marks those a handler applies. Returns its id."""
        from ledger.events import stored_args
        from ledger.models import ChainEvent

        args = {
            arg: stored_args(known[arg]) if arg in known else self._made_up(abi_type)
            for arg, abi_type in self.abi[(contract, name)]
        }
        number, block_hash = self._block()
        pk = rows.take(ChainEvent)
        rows.add(
            ChainEvent, id=pk, chain_id=self.chain_id, block_number=number,
            block_hash=block_hash, log_index=pk, tx_hash="0x" + self._hex(), contract=contract,
            address=self.addresses[contract], name=name, args=args,
        )  # fmt: skip
        return pk
