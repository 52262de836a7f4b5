"""The indexer and the event handlers against a real anvil (DESIGN.md section 4, "Indexer").

Contracts are called directly with the operator's key, as anyone holding a role can, and the
indexer picks the events up; design registrations also go the app's way, through the outbox."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.db import IntegrityError, transaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from requests.exceptions import Timeout
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import FilterParams, LogReceipt

from ledger import handlers
from ledger.anvil import Anvil, rpc
from ledger.chain import operator_account, web3_client
from ledger.contracts import contract
from ledger.handlers import chain_events_dispatch, event_handler
from ledger.models import ChainEvent, Deployment, IndexerCursor, ScannedBlock
from ledger.services.indexer import IndexReport, LogRangeError, index_chain
from ledger.tasks import index_chain_task
from marketplace.handlers import REGISTRATION_FINAL
from marketplace.models import AuditEvent, DesignFile, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from tests import factories
from tests.scenarios import drain

OWNER = b"\x01" * 32


@pytest.fixture
def deployed(deployed_here: Anvil) -> Anvil:
    """Deployed in each test: the reorg tests here replace blocks down to the deployment's."""
    return deployed_here


@pytest.fixture
def w3(deployed: Anvil) -> Web3:
    return web3_client()


@pytest.fixture
def anchored(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """A handler for RootAnchored (the app has none yet) that notes each apply and revert."""
    monkeypatch.setattr(handlers, "_handlers", dict(handlers._handlers))
    seen: list[tuple[str, int]] = []

    def revert(event: ChainEvent) -> None:
        seen.append(("revert", event.pk))

    @event_handler("RecordAnchor", "RootAnchored", revert=revert)
    def apply(event: ChainEvent) -> None:
        seen.append(("apply", event.pk))

    return seen


LogRange = tuple[int, int]


@pytest.fixture
def log_ranges(w3: Web3, monkeypatch: pytest.MonkeyPatch) -> list[LogRange]:
    """Records the block range of every eth_getLogs call made through `w3`."""
    ranges: list[LogRange] = []
    real = w3.eth.get_logs

    def spy(params: FilterParams) -> list[LogReceipt]:
        ranges.append((int(params["fromBlock"]), int(params["toBlock"])))
        return real(params)

    monkeypatch.setattr(w3.eth, "get_logs", spy)
    return ranges


def signed(w3: Web3, contract_name: str, function: str, *args: Any) -> HexBytes:
    """A call signed with the operator's key, as anyone holding the contract's role can."""
    account = operator_account()
    call = contract(w3, contract_name).functions[function](*args)
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    tx = call.build_transaction({"from": account.address, "nonce": nonce})
    return HexBytes(account.sign_transaction(cast(dict[str, Any], tx)).raw_transaction)


def send(w3: Web3, contract_name: str, function: str, *args: Any) -> int:
    """Sends a signed call; returns the block it was mined in."""
    raw = signed(w3, contract_name, function, *args)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    assert receipt["status"] == 1
    return int(receipt["blockNumber"])


def register(w3: Web3, design_hash: bytes, owner: bytes = OWNER) -> int:
    return send(w3, "DesignRegistry", "register", design_hash, owner)


def owner_of(design_file: DesignFile) -> bytes:
    """The owner reference the file's organisation registers it under."""
    return bytes.fromhex(design_file.job.organization.owner_ref.removeprefix("0x"))


def anchor(w3: Web3, root: bytes, batch_id: int, leaf_count: int = 3) -> int:
    return send(w3, "RecordAnchor", "anchor", root, leaf_count, batch_id)


def mine(anvil: Anvil, blocks: int) -> None:
    for _ in range(blocks):
        rpc(anvil.url, "evm_mine")


def events(name: str, **filters: Any) -> list[ChainEvent]:
    return list(ChainEvent.objects.filter(name=name, **filters))


def cursor() -> int:
    return IndexerCursor.objects.get().block_number


def first_deployment_block() -> int:
    return min(Deployment.objects.values_list("block_number", flat=True))


def design_file(customer: User, testdata: Any, name: str = "star_binary.stl") -> DesignFile:
    job = factories.JobFactory.create(created_by=customer)
    data = (testdata / "stl" / name).read_bytes()
    return design_file_attach(actor=customer, job=job, upload=encrypt_chunks(name, [data]))


def confirmations(design_file: DesignFile) -> list[dict[str, Any]]:
    rows = AuditEvent.objects.filter(verb=REGISTRATION_FINAL, target_id=str(design_file.pk))
    return [row.data for row in rows]


# --- reading and dispatching ----------------------------------------------------------------


def test_events_of_both_contracts_are_indexed_and_applied_once(
    w3: Web3, customer: User, testdata: Any, anchored: list[tuple[str, int]]
) -> None:
    # given: a design registered the app's way, through the outbox, and a root anchored directly
    uploaded = design_file(customer, testdata)
    drain()
    root = keccak(text="root")
    anchor_block = anchor(w3, root, batch_id=7)

    # when
    first = index_chain(w3=w3)
    again = index_chain(w3=w3)

    # then
    [registered] = events("DesignRegistered")
    [anchored_event] = events("RootAnchored")
    assert registered.contract == "DesignRegistry" and anchored_event.contract == "RecordAnchor"
    assert registered.args == {
        "designHash": "0x" + uploaded.sha256,
        "ownerRef": registered.args["ownerRef"],
        "timestamp": registered.args["timestamp"],
    }
    assert registered.args["timestamp"].isdigit()
    assert anchored_event.args["root"] == HexBytes(root).to_0x_hex()
    assert anchored_event.args["batchId"] == "7" and anchored_event.args["leafCount"] == "3"
    assert anchored_event.block_number == anchor_block
    assert anchored_event.address == contract(w3, "RecordAnchor").address
    assert events("RoleGranted"), "the constructors' events are read too"
    assert first.cursor == again.cursor == w3.eth.block_number
    assert first.applied == 2 and again.applied == 0 and again.events == 0
    assert anchored == [("apply", anchored_event.pk)]
    assert registered.applied and registered.applied_at is not None
    assert not ChainEvent.objects.filter(name="RoleGranted", applied=True).exists(), "no handler"
    assert [(c["ours"], c["chain_event"]) for c in confirmations(uploaded)] == [
        (True, registered.pk)
    ]


def test_a_registration_made_directly_on_chain_is_recorded_as_someone_elses(
    w3: Web3, customer: User, testdata: Any
) -> None:
    # given: the file's own registration is still queued when someone registers its hash for
    # the file's owner
    uploaded = design_file(customer, testdata)
    register(w3, bytes.fromhex(uploaded.sha256), owner_of(uploaded))

    index_chain(w3=w3)

    [confirmation] = confirmations(uploaded)
    assert confirmation["ours"] is False
    assert confirmation["owner_ref"] == uploaded.job.organization.owner_ref


def test_another_owners_registration_of_the_same_file_is_not_this_files(
    w3: Web3, customer: User, testdata: Any
) -> None:
    uploaded = design_file(customer, testdata)
    register(w3, bytes.fromhex(uploaded.sha256), OWNER)

    index_chain(w3=w3)

    assert confirmations(uploaded) == []


def test_a_registration_of_an_unknown_design_is_indexed_without_effect(w3: Web3) -> None:
    register(w3, keccak(text="a design PrintFair never saw"))

    report = index_chain(w3=w3)

    assert report.applied == 1
    assert not AuditEvent.objects.filter(verb=REGISTRATION_FINAL).exists()


def test_a_handler_that_fails_leaves_its_event_unapplied_and_later_events_waiting(
    w3: Web3, customer: User, testdata: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = design_file(customer, testdata)
    register(w3, bytes.fromhex(uploaded.sha256), owner_of(uploaded))
    register(w3, keccak(text="second"))
    monkeypatch.setattr(handlers, "_handlers", dict(handlers._handlers))
    real = handlers._handlers[("DesignRegistry", "DesignRegistered")]

    def failing(event: ChainEvent) -> None:
        real.apply(event)  # its audit row is written, then rolled back with the failure
        raise RuntimeError("the handler's database went away")

    handlers._handlers[("DesignRegistry", "DesignRegistered")] = handlers.Handler(
        apply=failing, revert=real.revert
    )

    with pytest.raises(RuntimeError, match="went away"):
        index_chain(w3=w3)

    assert cursor() == w3.eth.block_number, "what was read is kept"
    assert not ChainEvent.objects.filter(applied=True).exists()
    assert confirmations(uploaded) == []
    handlers._handlers[("DesignRegistry", "DesignRegistered")] = real
    assert chain_events_dispatch(chain_id=w3.eth.chain_id) == 2
    assert chain_events_dispatch(chain_id=w3.eth.chain_id) == 0
    assert len(confirmations(uploaded)) == 1


def test_a_second_handler_for_an_event_is_refused(anchored: list[tuple[str, int]]) -> None:
    with pytest.raises(Exception, match="already has a handler"):
        event_handler("RecordAnchor", "RootAnchored")(lambda event: None)


def test_events_are_unique_by_chain_block_hash_and_log_index(w3: Web3) -> None:
    register(w3, keccak(text="once"))
    index_chain(w3=w3)
    [event] = events("DesignRegistered")

    # Reading everything again (a lost cursor) changes nothing.
    IndexerCursor.objects.update(block_number=first_deployment_block() - 1)
    ScannedBlock.objects.all().delete()
    report = index_chain(w3=w3)

    assert report.events > 0 and report.applied == 0
    assert events("DesignRegistered") == [event]
    with pytest.raises(IntegrityError), transaction.atomic():
        ChainEvent.objects.create(
            chain_id=event.chain_id,
            block_number=event.block_number,
            block_hash=event.block_hash,
            log_index=event.log_index,
            tx_hash=event.tx_hash,
            contract=event.contract,
            address=event.address,
            name=event.name,
        )


def test_the_task_runs_a_pass(w3: Web3) -> None:
    register(w3, keccak(text="task"))

    result = index_chain_task()

    assert result["cursor"] == w3.eth.block_number and result["applied"] == 1


def test_nothing_is_read_before_contracts_are_deployed(chain: Anvil, db: None) -> None:
    assert index_chain() == IndexReport()
    assert not IndexerCursor.objects.exists()


# --- bounded ranges ---------------------------------------------------------------------------


def test_logs_are_read_in_ranges_of_at_most_the_configured_size(
    w3: Web3, deployed: Anvil, settings: Any, log_ranges: list[LogRange]
) -> None:
    settings.CHAIN_MAX_LOG_RANGE = 2
    blocks = [register(w3, keccak(text=f"design {n}")) for n in range(3)]
    mine(deployed, 4)
    blocks.append(anchor(w3, keccak(text="root"), batch_id=1))

    report = index_chain(w3=w3)

    head = w3.eth.block_number
    assert all(end - start + 1 <= 2 for start, end in log_ranges)
    starts = [start for start, _ in log_ranges]
    ends = [end for _, end in log_ranges]
    assert starts == [first_deployment_block(), *(end + 1 for end in ends[:-1])], "contiguous"
    assert ends[-1] == head and report.ranges == len(log_ranges) > 5
    indexed = {e.block_number for e in ChainEvent.objects.exclude(name="RoleGranted")}
    assert indexed == set(blocks)


@pytest.mark.parametrize(
    "refusal",
    [
        Web3RPCError("query returned more than 10000 results"),
        Web3RPCError("block range too large"),
        Timeout("read timed out"),
    ],
)
def test_a_refused_range_is_halved(
    w3: Web3, settings: Any, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    settings.CHAIN_MAX_LOG_RANGE = 8
    blocks = [register(w3, keccak(text=f"design {n}")) for n in range(6)]
    ranges: list[LogRange] = []
    real = w3.eth.get_logs

    def provider(params: FilterParams) -> list[LogReceipt]:
        start, end = int(params["fromBlock"]), int(params["toBlock"])
        ranges.append((start, end))
        if end - start + 1 > 2:
            raise refusal
        return real(params)

    monkeypatch.setattr(w3.eth, "get_logs", provider)

    index_chain(w3=w3)

    start = first_deployment_block()
    assert ranges[:3] == [(start, start + 7), (start, start + 3), (start, start + 1)]
    assert all(end - start + 1 <= 2 for start, end in ranges[3:]), "the smaller size is kept"
    assert {e.block_number for e in events("DesignRegistered")} == set(blocks)
    assert cursor() == w3.eth.block_number


def test_a_range_refused_down_to_one_block_stops_the_pass(
    w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(w3, keccak(text="design"))
    start = first_deployment_block()
    ranges: list[LogRange] = []

    def provider(params: FilterParams) -> list[LogReceipt]:
        ranges.append((int(params["fromBlock"]), int(params["toBlock"])))
        raise Web3RPCError("query returned more than 10000 results")

    monkeypatch.setattr(w3.eth, "get_logs", provider)

    with pytest.raises(LogRangeError, match=f"refused block {start}"):
        index_chain(w3=w3)

    assert ranges[-1] == (start, start)
    assert cursor() == start - 1 and not ChainEvent.objects.exists()


# --- finality -------------------------------------------------------------------------------


def test_events_are_read_only_once_final(w3: Web3, deployed: Anvil, settings: Any) -> None:
    settings.CHAIN_FINALITY = "depth:3"
    block = register(w3, keccak(text="design"))
    mine(deployed, 2)

    report = index_chain(w3=w3)

    assert report.cursor == w3.eth.block_number - 3 < block
    assert events("DesignRegistered") == []
    mine(deployed, 1)
    report = index_chain(w3=w3)
    assert report.cursor == block and len(events("DesignRegistered")) == 1


# --- reorganisations --------------------------------------------------------------------------


def test_a_reorg_rolls_back_and_reverts_the_removed_events(
    w3: Web3, deployed: Anvil, customer: User, testdata: Any, anchored: list[tuple[str, int]]
) -> None:
    # given: an anchor that survives, then a registration and an anchor that a reorg removes
    kept_block = anchor(w3, keccak(text="kept"), batch_id=1)
    uploaded = design_file(customer, testdata)
    register(w3, bytes.fromhex(uploaded.sha256), owner_of(uploaded))
    anchor(w3, keccak(text="lost"), batch_id=2)
    index_chain(w3=w3)
    head = w3.eth.block_number
    kept = events("RootAnchored", block_number=kept_block)[0]
    lost = list(ChainEvent.objects.filter(block_number__gt=kept_block))
    assert {e.name for e in lost} == {"DesignRegistered", "RootAnchored"}
    assert len(confirmations(uploaded)) == 1

    # when: the last two blocks are replaced by empty ones
    rpc(deployed.url, "anvil_reorg", 2, [])
    report = index_chain(w3=w3)

    # then
    assert w3.eth.block_number == head
    assert report.reorgs == 1 and report.removed == 2 and report.reverted == 2
    for event in lost:
        event.refresh_from_db()
        assert event.removed and event.removed_at is not None and not event.applied
    assert not ChainEvent.objects.filter(removed=True, applied=True).exists()
    kept.refresh_from_db()
    assert kept.applied and not kept.removed
    assert confirmations(uploaded) == [], "the handler's effect is undone"
    assert sorted(anchored) == sorted(
        [("apply", kept.pk), *(("apply", e.pk) for e in lost if e.name == "RootAnchored")]
        + [("revert", e.pk) for e in lost if e.name == "RootAnchored"]
    )
    assert report.cursor == head, "rolled back, then read again up to the head"
    for block in ScannedBlock.objects.all():
        assert block.hash == HexBytes(w3.eth.get_block(block.number)["hash"]).to_0x_hex()


def test_an_event_mined_again_in_another_block_is_a_new_event(
    w3: Web3, deployed: Anvil, anchored: list[tuple[str, int]]
) -> None:
    # given: an anchor in the block before last, indexed, whose signed bytes we keep
    raw = signed(w3, "RecordAnchor", "anchor", keccak(text="again"), 3, 5)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    mine(deployed, 1)
    index_chain(w3=w3)
    [before] = events("RootAnchored")

    # when: a reorg replaces both blocks, the transaction now in the second one
    rpc(deployed.url, "anvil_reorg", 2, [[raw.to_0x_hex(), 1]])
    # (once the node has it there: CI saw the indexer once read the new blocks without it)
    moved = w3.eth.wait_for_transaction_receipt(HexBytes(keccak(raw)), timeout=10)
    assert moved["blockNumber"] == before.block_number + 1
    report = index_chain(w3=w3)

    # then
    assert report.reorgs == 1
    before.refresh_from_db()
    [after] = events("RootAnchored", removed=False)
    assert before.removed and not before.applied
    assert after.tx_hash == before.tx_hash and after.block_number == before.block_number + 1
    assert after.applied
    assert anchored == [("apply", before.pk), ("revert", before.pk), ("apply", after.pk)]


def test_a_reorg_while_a_range_is_read_is_noticed_by_parent_hash(
    w3: Web3, deployed: Anvil, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: an indexed registration below the cursor, and three new blocks to read
    lost_block = register(w3, keccak(text="lost"))
    index_chain(w3=w3)
    mine(deployed, 3)
    calls = 0
    real = w3.eth.get_logs

    def reorg_on_first_call(params: FilterParams) -> list[LogReceipt]:
        nonlocal calls
        calls += 1
        if calls == 1:
            # After the pass checked its cursor's block: the new blocks and that one change.
            rpc(deployed.url, "anvil_reorg", 4, [])
        return real(params)

    monkeypatch.setattr(w3.eth, "get_logs", reorg_on_first_call)
    caplog.set_level("INFO", logger="ledger.services.indexer")

    report = index_chain(w3=w3)

    # The first read saw its last block change under it; the second found the cursor's block gone.
    assert "changed while" in caplog.text and "reorganised" in caplog.text
    assert report.reorgs == 1 and report.removed == 1
    [event] = events("DesignRegistered")
    assert event.block_number == lost_block and event.removed and not event.applied
    assert report.cursor == w3.eth.block_number


def test_a_chain_with_none_of_the_stored_blocks_is_read_again_from_the_deployments(
    w3: Web3, anchored: list[tuple[str, int]]
) -> None:
    # given: stored hashes that the chain does not have (a dev chain reset and replayed)
    anchor(w3, keccak(text="root"), batch_id=1)
    index_chain(w3=w3)
    [event] = events("RootAnchored")
    ScannedBlock.objects.update(hash="0x" + "00" * 32)

    report = index_chain(w3=w3)

    # then: everything was rolled back and read again; events in the same blocks live again
    assert report.reorgs == 1 and report.reverted == 1
    event.refresh_from_db()
    assert not event.removed and event.applied
    assert events("RootAnchored") == [event]
    assert anchored == [("apply", event.pk), ("revert", event.pk), ("apply", event.pk)]


def test_passes_that_overlap_do_not_index_twice(
    w3: Web3, deployed: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(w3, keccak(text="design"))
    real = w3.eth.get_logs
    inner: list[IndexReport] = []

    def another_pass_meanwhile(params: FilterParams) -> list[LogReceipt]:
        if not inner:
            monkeypatch.setattr(w3.eth, "get_logs", real)
            inner.append(index_chain(w3=w3))
        return real(params)

    monkeypatch.setattr(w3.eth, "get_logs", another_pass_meanwhile)

    outer = index_chain(w3=w3)

    assert inner[0].cursor == w3.eth.block_number and inner[0].applied == 1
    assert outer.cursor is None and outer.ranges == 0, "found the cursor moved and stopped"
    assert len(events("DesignRegistered", applied=True)) == 1
