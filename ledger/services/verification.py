"""Record verification: recompute an anchored record from the live database and check it
against its leaf, its proof and the root on chain, for a page (`record_check`), a proof bundle
and the whole ledger (ledger/services/ledger_verification.py, `manage.py verify_ledger`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from hexbytes import HexBytes
from requests.exceptions import RequestException
from web3.exceptions import Web3Exception

from ledger.chain import request_web3_client
from ledger.contracts import ContractNotDeployed, contract, contract_address
from ledger.models import RecordLeaf
from ledger.records import KINDS, RecordContent
from printfair.canonical import record_hash
from printfair.merkle import process_proof, record_leaf
from printfair.proofs import bundle_json


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class AnchorState:
    """How far a record's anchoring has come: "waiting" (for a batch), "sent" (the batch's
    transaction is queued or broadcast), "included" (mined, not final yet), "final"."""

    state: str
    record_hash: str | None = None
    batch: int | None = None
    root: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    block_time: datetime | None = None

    @property
    def is_final(self) -> bool:
        return self.state == "final"


def anchor_state(leaf: RecordLeaf | None) -> AnchorState:
    """The one reading of how far a record's anchoring has come: from its batch's outbox row,
    final once the sender saw the transaction at the finality depth. Every page, the quality gate
    and shops' performance read it here. `leaf` comes with `batch__chain_tx` selected."""
    if leaf is None:
        return AnchorState("waiting")
    if leaf.batch is None:
        return AnchorState("waiting", record_hash=leaf.record_hash)
    batch = leaf.batch
    chain_tx = batch.chain_tx
    status = chain_tx.status if chain_tx is not None else None
    state = {"final": "final", "included": "included"}.get(str(status), "sent")
    return AnchorState(
        state,
        record_hash=leaf.record_hash,
        batch=batch.pk,
        root=batch.root,
        tx_hash=(chain_tx.tx_hash or None) if chain_tx is not None else None,
        block_number=chain_tx.block_number if chain_tx is not None else None,
        block_time=chain_tx.block_time if chain_tx is not None else None,
    )


def anchor_states(kind: str, record_ids: Iterable[str]) -> dict[str, AnchorState]:
    """Each record's anchoring state, in one query."""
    ids = list(record_ids)
    states = dict.fromkeys(ids, AnchorState("waiting"))
    leaves = RecordLeaf.objects.filter(kind=kind, record_id__in=ids).select_related(
        "batch__chain_tx"
    )
    for leaf in leaves:
        states[leaf.record_id] = anchor_state(leaf)
    return states


Problem = tuple[str, str]  # (problem, detail): "altered", "removed" or "not anchored", and why


def leaf_problem(leaf: RecordLeaf, record: RecordContent | None) -> Problem | None:
    """(problem, detail) of a record against its leaf and proof, without asking the chain."""
    problem = record_problem(record, leaf.record_hash, leaf.leaf_hash)
    if problem is not None:
        return problem
    if leaf.batch is None:
        return "not anchored", "waiting for a batch"
    if not proof_leads_to(leaf.leaf_hash, leaf.proof, leaf.batch.root):
        return "altered", f"its proof does not lead to batch {leaf.batch.pk}"
    return None


def record_problem(
    record: RecordContent | None, anchored_hash: str, anchored_leaf: str
) -> Problem | None:
    """(problem, detail) of a record rebuilt from the database against its leaf's hashes."""
    if record is None:
        return "removed", "the record is gone"
    digest = record_hash(record)
    if _hex(digest) != anchored_hash:
        return "altered", "its content changed"
    if _hex(record_leaf(digest)) != anchored_leaf:
        return "altered", "its stored leaf changed"
    return None


def proof_leads_to(leaf: str, proof: Sequence[str], root: str) -> bool:
    """Whether `proof` (0x-hex nodes) leads from `leaf` to `root`; a node that is no hash
    leads nowhere."""
    try:
        return _hex(process_proof(HexBytes(leaf), [HexBytes(node) for node in proof])) == root
    except ValueError:
        return False


@dataclass(frozen=True)
class RecordCheck:
    """One record checked: "verified" (matches what was anchored, and the root is on chain),
    "pending" (matches; anchoring not done, or the chain not asked), "unreachable" (matches; the
    chain could not be asked), or a failure: "altered", "removed" or "not anchored"."""

    status: str
    detail: str
    anchor: AnchorState
    chain_id: int | None = None
    anchored_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("altered", "removed", "not anchored")


def record_check(
    kind: str,
    record_id: str,
    *,
    record: RecordContent | None = None,
    on_chain: bool = False,
    roots: dict[str, int] | None = None,
) -> RecordCheck:
    """Check one record: against its leaf and proof always, and when `on_chain` against the root
    held by RecordAnchor (a live chain read; `roots` caches the answers across records)."""
    leaf = (
        RecordLeaf.objects.filter(kind=kind, record_id=record_id)
        .select_related("batch__chain_tx")
        .first()
    )
    if record is None and kind in KINDS:
        record = KINDS[kind].build(record_id)
    anchor = anchor_state(leaf)
    if leaf is None:
        if record is None:
            return RecordCheck("removed", "no such record", anchor)
        return RecordCheck("pending", "queued for anchoring", anchor)
    problem = leaf_problem(leaf, record)
    if problem is not None and problem[0] != "not anchored":
        return RecordCheck(problem[0], problem[1], anchor)
    if leaf.batch is None:
        return RecordCheck("pending", "waiting for the next anchoring batch", anchor)
    if not on_chain:
        return RecordCheck("pending", f"in batch {leaf.batch.pk}, {anchor.state}", anchor)
    root = leaf.batch.root
    roots = {} if roots is None else roots
    try:
        # Pages ask this while someone waits: a short timeout, and no wait at all while the node
        # is known not to answer (the record is then shown as matching, chain unconfirmed).
        w3 = request_web3_client()
        chain_id = int(w3.eth.chain_id)
        if root not in roots:
            anchor_contract = contract(w3, "RecordAnchor", chain_id=chain_id)
            roots[root] = int(anchor_contract.functions.anchoredAt(HexBytes(root)).call())
    except (ContractNotDeployed, RequestException, Web3Exception, OSError) as exc:
        return RecordCheck(
            "unreachable",
            f"the record matches what was anchored, but the chain could not be asked just now "
            f"({type(exc).__name__})",
            anchor,
        )
    if not roots[root]:
        final = anchor.state == "final"
        return RecordCheck(
            "not anchored" if final else "pending",
            f"batch {leaf.batch.pk}'s root is not on chain {chain_id}" + ("" if final else " yet"),
            anchor,
            chain_id=chain_id,
        )
    return RecordCheck(
        "verified",
        f"the record matches its anchored hash, its proof leads to batch {leaf.batch.pk}'s root, "
        f"and RecordAnchor on chain {chain_id} holds that root",
        anchor,
        chain_id=chain_id,
        anchored_at=datetime.fromtimestamp(roots[root], tz=UTC),
    )


def proof_bundle(
    kind: str, record_id: str, *, included: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any] | None:
    """The record's proof bundle (printfair/proofs.py), or None when there is no such record."""
    record = KINDS[kind].build(record_id) if kind in KINDS else None
    if record is None:
        return None
    leaf = (
        RecordLeaf.objects.filter(kind=kind, record_id=record_id)
        .select_related("batch__chain_tx")
        .first()
    )
    anchor = anchor_state(leaf)
    chain_id = settings.CHAIN_ID
    try:
        anchor_contract: str | None = contract_address("RecordAnchor", chain_id)
    except ContractNotDeployed:
        anchor_contract = None
    machine_registry: str | None = None
    if "attested_by" in record:
        # A machine-attested record: where its signer's key can be looked up.
        try:
            machine_registry = contract_address("MachineRegistry", chain_id)
        except ContractNotDeployed:
            machine_registry = None
    return bundle_json(
        kind=kind,
        record_id=record_id,
        record=record,
        anchored_hash=leaf.record_hash if leaf is not None else None,
        proof=list(leaf.proof) if leaf is not None and leaf.batch is not None else [],
        root=anchor.root,
        batch=anchor.batch,
        chain_id=chain_id,
        anchor_contract=anchor_contract,
        anchor_tx=anchor.tx_hash,
        block_number=anchor.block_number,
        included=included,
        machine_registry=machine_registry,
    )
