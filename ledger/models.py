"""The ledger's rows: deployed contracts, the transaction outbox, anchoring, and the indexer's
cursor, scanned blocks and events (DESIGN.md section 4)."""

from __future__ import annotations

from django.db import models
from django.db.models.fields.json import KeyTransform


class Deployment(models.Model):
    """A contract deployed on a chain. `deploy_contracts` writes these; the app reads addresses
    from here, never from settings."""

    chain_id = models.PositiveBigIntegerField()
    name = models.CharField(max_length=60, help_text="Contract name, as in ledger/contracts/build/")
    address = models.CharField(max_length=42)
    tx_hash = models.CharField(max_length=66)
    block_number = models.PositiveBigIntegerField()
    # keccak-256 of the creation bytecode, so a changed artifact is noticed and redeployed.
    bytecode_hash = models.CharField(max_length=66)
    deployed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "name"], name="deployment_unique_per_chain")
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.address} (chain {self.chain_id})"


class Wallet(models.Model):
    """A signing account on a chain. Its row is the sender's lock: nonces are assigned only while
    it is held, so two workers cannot hand out the same nonce."""

    chain_id = models.PositiveBigIntegerField()
    address = models.CharField(max_length=42)
    next_nonce = models.PositiveBigIntegerField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "address"], name="wallet_unique_per_chain")
        ]

    def __str__(self) -> str:
        return f"{self.address} (chain {self.chain_id})"


class ChainTx(models.Model):
    """One chain write, queued in the same database transaction as the business change that
    causes it. The sender signs it, stores the raw bytes and hash before broadcasting, and on a
    retry re-sends exactly those bytes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SIGNED = "signed", "Signed"
        BROADCAST = "broadcast", "Broadcast"
        INCLUDED = "included", "Included"
        FINAL = "final", "Final"
        FAILED = "failed", "Failed"
        REPLACED = "replaced", "Replaced"

    idempotency_key = models.CharField(max_length=200, unique=True)
    chain_id = models.PositiveBigIntegerField()
    sender = models.CharField(max_length=42, help_text="The wallet that signs it")
    contract = models.CharField(max_length=60, help_text="Deployment name of the target")
    function = models.CharField(max_length=100)
    args = models.JSONField(default=list, help_text="ABI arguments; bytes as 0x-hex strings")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    gas_limit = models.PositiveBigIntegerField(null=True, blank=True)
    # Fees in wei as decimal strings: uint256 does not fit a database integer.
    max_fee_per_gas = models.CharField(max_length=80, blank=True)
    max_priority_fee_per_gas = models.CharField(max_length=80, blank=True)
    raw_tx = models.BinaryField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, blank=True)
    # Hashes of earlier signatures of the same nonce that a fee bump replaced: any of them may
    # still be the one that gets mined.
    replaced_hashes = models.JSONField(default=list, blank=True)
    # Calls that allow it travel together in one batched transaction, sent as the first row's
    # (its head's); the other rows point to the head and follow its states.
    batch_head = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="batch_members"
    )
    # Signed only once this one is mined: a call that needs its effect (`fund` after `approve`).
    waits_for = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Signed only once the chain's latest block is this late: a call the contract refuses before
    # a deadline (block time lags our clock, so asking at our clock's deadline is too early).
    not_before = models.DateTimeField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    block_time = models.DateTimeField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    broadcast_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # Indexes, not db_index: on PostgreSQL db_index adds a second one for LIKE prefixes,
        # which every insert would pay for and no query uses (tests/test_schema_indexes.py).
        indexes = [
            models.Index(fields=["sender", "status"]),
            models.Index(fields=["tx_hash"], name="chaintx_tx_hash"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "sender", "nonce"],
                condition=models.Q(nonce__isnull=False) & ~models.Q(status="replaced"),
                name="chaintx_one_live_tx_per_nonce",
            )
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} [{self.status}]"

    @property
    def is_settled(self) -> bool:
        """Final or failed: nothing more will happen to it."""
        return self.status in (self.Status.FINAL, self.Status.FAILED, self.Status.REPLACED)


class AnchorBatch(models.Model):
    """A Merkle root over a batch of records, anchored on RecordAnchor. Its id is the batchId
    on chain."""

    root = models.CharField(max_length=66, unique=True)
    leaf_count = models.PositiveIntegerField()
    # Set right after the batch row exists: its id is an argument of the anchoring call.
    chain_tx = models.OneToOneField(
        ChainTx, null=True, on_delete=models.PROTECT, related_name="anchor_batch"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.leaf_count} records)"


class RecordLeaf(models.Model):
    """One record to anchor: its canonical hash (printfair/canonical.py), its Merkle leaf, and
    once sealed into a batch, its proof. `kind` and `record_id` name the row it was made from,
    so that verify_ledger can recompute the hash from the live data."""

    kind = models.CharField(max_length=40)
    record_id = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=66)
    leaf_hash = models.CharField(max_length=66)
    batch = models.ForeignKey(
        AnchorBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leaves",
        db_index=False,
    )
    proof = models.JSONField(default=list, blank=True, help_text="Sibling hashes, leaf to root")
    # Where the record belongs (e.g. "order:12:part:A-7"), so that a page can tell when records
    # of what it shows were deleted while their leaves remain.
    scope = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "record_id"], name="recordleaf_one_per_record")
        ]
        indexes = [
            models.Index(fields=["batch", "id"]),
            models.Index(fields=["leaf_hash"], name="recordleaf_leaf_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.record_id}"


class IndexerCursor(models.Model):
    """How far the indexer has read a chain: every block up to `block_number` is indexed."""

    chain_id = models.PositiveBigIntegerField(unique=True)
    block_number = models.PositiveBigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"chain {self.chain_id} indexed to block {self.block_number}"


class ScannedBlock(models.Model):
    """A block the indexer read, as the chain had it then. A later reorg shows up as a stored
    hash that the chain no longer has; the highest block whose hash still matches is where the
    chains forked, because a block's hash commits to all of its ancestors."""

    chain_id = models.PositiveBigIntegerField()
    number = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=66)
    parent_hash = models.CharField(max_length=66)
    scanned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "number"], name="scannedblock_unique_per_chain"
            )
        ]

    def __str__(self) -> str:
        return f"block {self.number} {self.hash} (chain {self.chain_id})"


class ChainEvent(models.Model):
    """A contract event the indexer read at or below the finality point. The apps' handlers
    (ledger/handlers.py) apply it once; a reorg that removes its block reverts it and marks it
    removed, and the event in its new block, if any, is a new row."""

    chain_id = models.PositiveBigIntegerField()
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    tx_hash = models.CharField(max_length=66)
    contract = models.CharField(max_length=60, help_text="Deployment name of the emitter")
    address = models.CharField(max_length=42)
    name = models.CharField(max_length=100, help_text="Event name, as in the contract's ABI")
    args = models.JSONField(
        default=dict, help_text="Decoded arguments; bytes as 0x-hex, integers as decimal strings"
    )
    applied = models.BooleanField(default=False)
    # Kept when a reorg reverts the event: it tells that the handler had acted on it.
    applied_at = models.DateTimeField(null=True, blank=True)
    removed = models.BooleanField(default=False, help_text="Rolled back by a reorg")
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["block_number", "log_index"]
        indexes = [
            models.Index(fields=["tx_hash"], name="chainevent_tx_hash"),
            models.Index(fields=["chain_id", "block_number", "log_index"]),
            # What dispatch looks for: the unapplied events of the (contract, name) pairs that
            # have a handler, not every event (nor those that nothing handles, which stay).
            models.Index(
                fields=["contract", "name", "chain_id", "block_number", "log_index"],
                condition=models.Q(applied=False, removed=False),
                name="chainevent_unapplied",
            ),
            # A job's auction and escrow events (its page's money trail, its bids' order).
            models.Index(
                KeyTransform("jobId", "args"),
                condition=models.Q(contract="AuctionHouse"),
                name="chainevent_auction_job",
            ),
            # A design's registrations (its public proof of existence).
            models.Index(
                KeyTransform("designHash", "args"),
                condition=models.Q(contract="DesignRegistry"),
                name="chainevent_design_hash",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "block_hash", "log_index"], name="chainevent_unique_per_block"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contract}.{self.name} in block {self.block_number} #{self.log_index}"
