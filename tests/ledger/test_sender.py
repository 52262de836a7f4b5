"""The outbox and the sender against a real anvil (DESIGN.md section 4)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from eth_typing import HexStr
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from ledger.anvil import Anvil, rpc
from ledger.chain import operator_account, web3_client
from ledger.contracts import contract
from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue, chaintx_redrive
from ledger.services.sender import chaintx_process
from marketplace.models import User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from tests import factories
from tests.scenarios import drain


def register(key: str, design_hash: bytes, owner: bytes = b"\x01" * 32) -> ChainTx:
    with transaction.atomic():
        return chaintx_enqueue(
            idempotency_key=key,
            contract="DesignRegistry",
            function="register",
            args=["0x" + design_hash.hex(), "0x" + owner.hex()],
        )


def test_enqueue_needs_the_callers_transaction(transactional_db: None) -> None:
    with pytest.raises(RuntimeError, match="inside the business change's transaction"):
        chaintx_enqueue(
            idempotency_key="x", contract="DesignRegistry", function="register", args=[]
        )


def test_enqueue_is_idempotent(db: None) -> None:
    first = register("design.register:abc", b"\x02" * 32)
    again = register("design.register:abc", b"\x03" * 32)
    assert again.pk == first.pk
    assert ChainTx.objects.count() == 1


def test_a_transaction_goes_from_pending_to_final(deployed: Anvil) -> None:
    chain_tx = register("t:1", b"\x11" * 32)
    report = chaintx_process()
    assert report.signed == 1 and report.broadcast == 1
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL
    assert chain_tx.block_number and chain_tx.block_time and chain_tx.gas_used
    registry = contract(web3_client(), "DesignRegistry")
    owner, timestamp = registry.functions.registration(b"\x11" * 32).call()
    assert owner == b"\x01" * 32 and timestamp == int(chain_tx.block_time.timestamp())


def test_nonces_are_consecutive_and_unique(
    deployed: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.services import sender

    monkeypatch.setattr(sender.signing, "CALLS_PER_TX", 1)  # every call its own transaction
    rows = [register(f"t:{n}", bytes([n]) * 32) for n in range(1, 8)]
    drain()
    nonces = sorted(n for n in ChainTx.objects.values_list("nonce", flat=True) if n is not None)
    assert nonces == list(range(nonces[0], nonces[0] + len(rows)))
    assert set(ChainTx.objects.values_list("status", flat=True)) == {ChainTx.Status.FINAL}


def test_a_call_that_would_revert_fails_with_its_reason_and_uses_no_nonce(deployed: Anvil) -> None:
    register("first", b"\x21" * 32)
    drain()
    duplicate = register("second", b"\x21" * 32)
    after = register("third", b"\x22" * 32)
    drain()
    duplicate.refresh_from_db()
    after.refresh_from_db()
    assert duplicate.status == ChainTx.Status.FAILED
    assert duplicate.error.startswith("Refused before sending: ") and "0x" in duplicate.error
    assert duplicate.nonce is None
    assert after.status == ChainTx.Status.FINAL


def test_re_sending_known_bytes_counts_as_sent(deployed: Anvil) -> None:
    chain_tx = register("t:known", b"\x31" * 32)
    call_command("deploy_contracts", verbosity=0)  # no-op: already deployed
    from ledger.services import sender

    # Sign only, then send the same bytes behind the sender's back.
    sender.signing.sign_pending(
        web3_client(), sender.chain_config(), operator_account(), sender.PassReport()
    )
    chain_tx.refresh_from_db()
    web3_client().eth.send_raw_transaction(HexBytes(chain_tx.raw_tx or b""))
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL
    assert ChainTx.objects.count() == 1


def test_a_reorg_sends_the_removed_transaction_again(deployed_here: Anvil, settings: Any) -> None:
    settings.CHAIN_FINALITY = "depth:3"
    chain_tx = register("t:reorg", b"\x41" * 32)
    chaintx_process()
    chaintx_process()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.INCLUDED
    first_block = chain_tx.block_hash
    # Replace the last block with an empty one: the transaction is gone from the chain.
    rpc(deployed_here.url, "anvil_reorg", 1, [])
    with pytest.raises(TransactionNotFound):
        web3_client().eth.get_transaction_receipt(HexBytes(chain_tx.tx_hash))
    chaintx_process()
    chain_tx.refresh_from_db()
    assert chain_tx.status in (ChainTx.Status.SIGNED, ChainTx.Status.BROADCAST)
    for _ in range(5):
        rpc(deployed_here.url, "evm_mine")
        chaintx_process()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL
    assert chain_tx.block_hash != first_block


def test_redrive_queues_a_failed_transaction_again(deployed: Anvil) -> None:
    register("first", b"\x51" * 32)
    failed = register("second", b"\x51" * 32)
    drain()
    failed.refresh_from_db()
    assert failed.status == ChainTx.Status.FAILED
    chaintx_redrive(chain_tx=failed)
    failed.refresh_from_db()
    assert failed.status == ChainTx.Status.PENDING and failed.nonce is None


def test_design_upload_is_registered_and_shown_once_final(
    deployed: Anvil, customer: User, testdata: Any, login: Any
) -> None:
    job = factories.JobFactory.create(created_by=customer)
    data = (testdata / "stl" / "star_binary.stl").read_bytes()
    design_file = design_file_attach(
        actor=customer, job=job, upload=encrypt_chunks("s.stl", [data])
    )
    assert design_file.registration is not None
    page = login(customer).get(reverse("design_file_table", args=[job.pk])).content.decode()
    assert "Registering on chain" in page and 'hx-trigger="every 2s"' in page
    drain()
    registration = ChainTx.objects.get(pk=design_file.registration.pk)
    assert registration.status == ChainTx.Status.FINAL
    assert registration.args[0] == "0x" + design_file.sha256
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Registered on chain" in page and f"block {registration.block_number}" in page
    assert 'hx-trigger="every 2s"' not in page


def test_a_second_customer_with_the_same_file_gets_its_own_proof_and_never_sees_the_first(
    deployed: Anvil, customer: User, other_customer: User, testdata: Any, login: Any
) -> None:
    """Issue 14, item 3: the second upload of a file another organisation registered showed the
    first one's registration ("registered on chain, block 3") and got no proof of its own."""
    data = (testdata / "stl" / "star_binary.stl").read_bytes()
    first = design_file_attach(
        actor=customer,
        job=factories.JobFactory.create(created_by=customer),
        upload=encrypt_chunks("s.stl", [data]),
    )
    drain()
    other = other_customer
    job = factories.JobFactory.create(created_by=other)
    second = design_file_attach(actor=other, job=job, upload=encrypt_chunks("s.stl", [data]))
    assert first.registration is not None and second.registration is not None
    assert second.registration.pk != first.registration.pk
    page = login(other).get(reverse("design_file_table", args=[job.pk])).content.decode()
    assert "Registering on chain" in page, "its own registration, not yet sent"
    drain()
    mine = ChainTx.objects.get(pk=second.registration.pk)
    assert mine.status == ChainTx.Status.FINAL
    assert mine.args == ["0x" + second.sha256, job.organization.owner_ref]
    page = login(other).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f"block {mine.block_number}" in page
    theirs = ChainTx.objects.get(pk=first.registration.pk)
    assert f"block {theirs.block_number}" not in page and theirs.tx_hash not in page
    registry = contract(web3_client(), "DesignRegistry").functions
    owner = bytes.fromhex(job.organization.owner_ref.removeprefix("0x"))
    assert registry.registrationBy(bytes.fromhex(second.sha256), owner).call() > 0
    # the same organisation's second job with the file shares its one registration
    again = design_file_attach(
        actor=other,
        job=factories.JobFactory.create(created_by=other),
        upload=encrypt_chunks("s.stl", [data]),
    )
    assert again.registration is not None and again.registration.pk == mine.pk


def test_a_nonce_taken_by_another_transaction_fails_the_row(deployed: Anvil) -> None:
    from ledger.services import sender

    chain_tx = register("t:taken", b"\x61" * 32)
    sender.signing.sign_pending(
        web3_client(), sender.chain_config(), operator_account(), sender.PassReport()
    )
    chain_tx.refresh_from_db()
    # Another client of the same key spends that nonce first.
    w3 = web3_client()
    account = operator_account()
    other = account.sign_transaction(
        {
            "to": account.address,
            "value": 0,
            "nonce": chain_tx.nonce or 0,
            "gas": 21_000,
            "gasPrice": w3.eth.gas_price * 2,
            "chainId": w3.eth.chain_id,
        }
    )
    w3.eth.send_raw_transaction(other.raw_transaction)
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FAILED
    assert f"Nonce {chain_tx.nonce} was used by another transaction" in chain_tx.error
    chaintx_redrive(chain_tx=chain_tx)
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL


def test_chain_status_prints_head_cursor_and_backlog(deployed: Anvil) -> None:
    from io import StringIO

    register("t:status", b"\x71" * 32)
    out = StringIO()
    call_command("chain_status", stdout=out)
    text = out.getvalue()
    assert f"head           {web3_client().eth.block_number}" in text
    assert "pending        1" in text and "indexed to" in text and "final " in text


def test_a_stuck_transaction_is_signed_again_with_higher_fees(deployed: Anvil) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from ledger.services import sender

    start_nonce = web3_client().eth.get_transaction_count(operator_account().address)
    rpc(deployed.url, "evm_setAutomine", False)
    try:
        # given: a transaction that no block has taken
        chain_tx = register("t:stuck", b"\x81" * 32)
        chaintx_process()
        chain_tx.refresh_from_db()
        assert chain_tx.status == ChainTx.Status.BROADCAST
        stuck_hash, stuck_fee = chain_tx.tx_hash, int(chain_tx.max_fee_per_gas)
        # when: it has waited longer than STUCK_AFTER
        ChainTx.objects.filter(pk=chain_tx.pk).update(
            broadcast_at=timezone.now() - sender.following.STUCK_AFTER - timedelta(seconds=1)
        )
        assert chaintx_process().bumped == 1
        chaintx_process()  # sends the replacement
        rpc(deployed.url, "evm_mine")
    finally:
        rpc(deployed.url, "evm_setAutomine", True)
    drain()
    # then: the replacement is mined with the same nonce, and nothing else was sent
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL
    assert chain_tx.replaced_hashes == [stuck_hash] and chain_tx.tx_hash != stuck_hash
    assert int(chain_tx.max_fee_per_gas) >= stuck_fee * 110 // 100
    assert web3_client().eth.get_transaction_count(operator_account().address) == start_nonce + 1


def test_fees_below_the_base_fee_are_raised_before_sending(
    deployed: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.services import sender

    monkeypatch.setattr(
        sender.signing,
        "fee_fields",
        lambda w3, mode: {"maxFeePerGas": 2, "maxPriorityFeePerGas": 1},
    )
    chain_tx = register("t:cheap", b"\x82" * 32)
    sender.signing.sign_pending(
        web3_client(), sender.chain_config(), operator_account(), sender.PassReport()
    )
    monkeypatch.undo()
    assert chaintx_process().bumped == 1
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL and len(chain_tx.replaced_hashes) == 1


def test_calls_with_a_batch_form_travel_in_one_transaction(deployed: Anvil) -> None:
    start_nonce = web3_client().eth.get_transaction_count(operator_account().address)
    rows = [register(f"t:many:{n}", bytes([0x90 + n]) * 32) for n in range(5)]
    drain()
    rows = [ChainTx.objects.get(pk=row.pk) for row in rows]
    assert {row.status for row in rows} == {ChainTx.Status.FINAL}
    assert len({row.tx_hash for row in rows}) == 1, "one transaction carried all five"
    assert web3_client().eth.get_transaction_count(operator_account().address) == start_nonce + 1
    head, *members = rows
    assert head.batch_head is None and all(row.batch_head_id == head.pk for row in members)
    registry = contract(web3_client(), "DesignRegistry")
    for n in range(5):
        assert registry.functions.registration(bytes([0x90 + n]) * 32).call()[1] > 0


def test_a_node_without_eth_create_access_list_gets_eth_estimate_gas(
    deployed: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web3.providers import HTTPProvider

    make_request = HTTPProvider.make_request
    asked = []

    def without_access_lists(self: HTTPProvider, method: str, params: Any) -> Any:
        asked.append(method)
        if method == "eth_createAccessList":
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}
        return make_request(self, method, params)

    monkeypatch.setattr(HTTPProvider, "make_request", without_access_lists)
    chain_tx = register("t:estimated", b"\x81" * 32)
    drain()
    duplicate = register("t:estimated:again", b"\x81" * 32)
    drain()
    chain_tx.refresh_from_db()
    duplicate.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL and chain_tx.gas_limit
    assert duplicate.status == ChainTx.Status.FAILED
    assert "DesignRegistryAlreadyRegistered" in duplicate.error
    assert "eth_createAccessList" in asked and "eth_estimateGas" in asked


def test_a_batch_that_would_revert_is_sent_call_by_call(deployed: Anvil) -> None:
    register("t:first", b"\xa1" * 32)
    drain()
    rows = [
        register("t:ok:1", b"\xa2" * 32),
        register("t:dup", b"\xa1" * 32),
        register("t:ok:2", b"\xa3" * 32),
    ]
    drain()
    ok1, dup, ok2 = (ChainTx.objects.get(pk=row.pk) for row in rows)
    assert ok1.status == ok2.status == ChainTx.Status.FINAL
    assert dup.status == ChainTx.Status.FAILED and "DesignRegistryAlreadyRegistered" in dup.error


def test_a_call_to_a_contract_not_deployed_waits_without_blocking_others(deployed: Anvil) -> None:
    with transaction.atomic():
        waiting = chaintx_enqueue(
            idempotency_key="t:later", contract="NotYetDeployed", function="f", args=[]
        )
    other = register("t:now", b"\xb1" * 32)
    drain()
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.status == ChainTx.Status.PENDING
    assert other.status == ChainTx.Status.FINAL


@pytest.fixture
def gasless_wallet(deployed: Anvil, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A second wallet whose key the app keeps (like a custodial customer wallet)."""
    from eth_account import Account

    from ledger import signers

    account = Account.create()
    monkeypatch.setattr(signers, "_lookups", [])
    signers.signer_lookup(lambda address: account if address == account.address else None)
    return account


@pytest.fixture
def kept_wallet(deployed: Anvil, gasless_wallet: Any) -> Any:
    """A kept wallet with gas of its own."""
    rpc(deployed.url, "anvil_setBalance", gasless_wallet.address, hex(10**18))
    return gasless_wallet


def enqueue(key: str, contract_name: str, function: str, args: list[Any], **kwargs: Any) -> ChainTx:
    with transaction.atomic():
        return chaintx_enqueue(
            idempotency_key=key, contract=contract_name, function=function, args=args, **kwargs
        )


def test_a_kept_wallet_signs_its_own_calls_and_a_call_waits_for_the_one_it_needs(
    kept_wallet: Any,
) -> None:
    operator = operator_account().address
    token = contract(web3_client(), "TestStablecoin")
    mint = enqueue("mint", "TestStablecoin", "mint", [kept_wallet.address, 500])
    # from the kept wallet, signed with its key
    approve = enqueue(
        "approve", "TestStablecoin", "approve", [operator, 300], sender=kept_wallet.address
    )
    # would revert until the approval is mined: it waits for it, it does not fail
    pull = enqueue(
        "pull",
        "TestStablecoin",
        "transferFrom",
        [kept_wallet.address, operator, 300],
        waits_for=approve,
    )
    chaintx_process()
    pull.refresh_from_db()
    assert pull.status == ChainTx.Status.PENDING
    drain()
    for row in (mint, approve, pull):
        row.refresh_from_db()
        assert row.status == ChainTx.Status.FINAL, (row.idempotency_key, row.error)
    assert approve.sender == kept_wallet.address
    tx = web3_client().eth.get_transaction(HexStr(approve.tx_hash))
    assert tx["from"] == kept_wallet.address
    assert token.functions.balanceOf(kept_wallet.address).call() == 200
    assert token.functions.balanceOf(operator).call() == 300


def test_a_kept_wallet_without_gas_gets_some_from_the_operator_first(
    gasless_wallet: Any,
) -> None:
    from ledger.services.sender.common import NATIVE

    operator = operator_account().address
    w3 = web3_client()
    assert w3.eth.get_balance(gasless_wallet.address) == 0
    approve = enqueue(
        "approve", "TestStablecoin", "approve", [operator, 300], sender=gasless_wallet.address
    )
    drain()
    approve.refresh_from_db()
    assert approve.status == ChainTx.Status.FINAL, approve.error
    topup = ChainTx.objects.get(contract=NATIVE)
    assert topup.sender == operator and topup.status == ChainTx.Status.FINAL
    assert approve.waits_for_id == topup.pk and (approve.nonce, topup.nonce) != (None, None)
    assert w3.eth.get_transaction(HexStr(topup.tx_hash))["value"] == topup.args[1]
    # what is left pays for the next calls: no second top-up
    again = enqueue(
        "approve:again", "TestStablecoin", "approve", [operator, 5], sender=gasless_wallet.address
    )
    drain()
    again.refresh_from_db()
    assert again.status == ChainTx.Status.FINAL and again.waits_for is None
    assert ChainTx.objects.filter(contract=NATIVE).count() == 1


def test_a_call_waiting_for_a_failed_one_fails_too(kept_wallet: Any) -> None:
    operator = operator_account().address
    # the kept wallet holds no tokens: the transfer reverts
    doomed = enqueue(
        "doomed", "TestStablecoin", "transfer", [operator, 5], sender=kept_wallet.address
    )
    waiting = enqueue("waiting", "TestStablecoin", "mint", [operator, 5], waits_for=doomed)
    drain()
    doomed.refresh_from_db()
    waiting.refresh_from_db()
    assert doomed.status == waiting.status == ChainTx.Status.FAILED
    assert "ERC20InsufficientBalance" in doomed.error
    assert "it needed doomed, which failed" in waiting.error


def test_a_call_waits_for_block_time_to_pass_its_not_before(deployed: Anvil) -> None:
    from datetime import UTC, datetime, timedelta

    w3 = web3_client()
    latest = int(w3.eth.get_block("latest")["timestamp"])
    not_before = datetime.fromtimestamp(latest, tz=UTC) + timedelta(seconds=100)
    waiting = enqueue(
        "later", "TestStablecoin", "mint", [operator_account().address, 5], not_before=not_before
    )
    drain()
    waiting.refresh_from_db()
    assert waiting.status == ChainTx.Status.PENDING and waiting.nonce is None
    rpc(deployed.url, "evm_setNextBlockTimestamp", latest + 100)
    rpc(deployed.url, "evm_mine")
    drain()
    waiting.refresh_from_db()
    assert waiting.status == ChainTx.Status.FINAL


def test_a_mined_transaction_whose_receipt_is_late_is_not_failed(
    deployed: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node may count a nonce as used a moment before it serves the receipt (anvil does,
    foundry-rs/foundry#10944): that is not a nonce taken by another transaction."""
    from ledger.services.sender import following

    chain_tx = register("late-receipt", b"\x21" * 32)
    real_receipts = following._receipts
    with monkeypatch.context() as patch:
        patch.setattr(following, "_receipts", lambda w3, rows: [None] * len(rows))
        chaintx_process()  # signed, broadcast and mined by automine; its receipt "not yet"
        chain_tx.refresh_from_db()
        assert chain_tx.status == ChainTx.Status.BROADCAST, chain_tx.error
    assert following._receipts is real_receipts
    drain()
    chain_tx.refresh_from_db()
    assert chain_tx.status == ChainTx.Status.FINAL
