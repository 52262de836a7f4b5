"""The OpenAPI document is the API (issue "What PrintFair states is true", item 4): a Python
client generated from the live server's `/api/schema/` by a maintained generator
(openapi-python-client, pinned in pyproject.toml) takes a shop through its whole day against a
real gunicorn and a real anvil: keys, a sealed bid and its reveal, a print ticket, a production
event, evidence and a quality record, delivery and a payout. Every request is made, and every
answer parsed, by the generated code alone; a document that says a wrong status, body, field or
nullability fails here, where a hand-written client would have papered over it.

The chain steps between (bidding closing, the award, the customer's funding and acceptance) are
the scenario helpers the other end-to-end tests use."""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from django.conf import settings
from django.test import Client
from eth_account import Account

from ledger.anvil import Anvil
from marketplace.models import Order, User
from printfair.eip712 import Bid, new_salt, sign_sealed_bid
from printfair.hpke import generate_private_key
from printfair.keys import registration_message, sign_registration
from printfair.withdrawals import sign_withdrawal
from printshops.services import api_key_create
from tests.processes import WebServer
from tests.scenarios import close_bidding, drain, finish_auction, funded, post, settle

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
#: The generated package's name (the directory it is written to, with `--meta none`).
PACKAGE = "printfair_api_client"
#: No post-hooks: the generator's default runs ruff over the code it wrote, which only formats.
CONFIG = "post_hooks: []\n"
PRICE = 400_000_000  # 400 USD in base units
FEE = PRICE * 250 // 10_000


def generate_client(schema_url: str, where: Path) -> None:
    """Run the generator on the live document, as a shop's developer would. It reads the URL
    itself (a loopback address: nothing leaves the machine) and fails on any warning, which is
    what it says when it cannot turn part of the document into code."""
    config = where / "openapi-python-client.yaml"
    config.write_text(CONFIG)
    command = [
        str(GENERATOR), "generate",
        "--url", schema_url,
        "--meta", "none",
        "--config", str(config),
        "--output-path", str(where / PACKAGE),
        "--fail-on-warning",
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - our own command line
        command, cwd=where, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def generated(
    servers: Callable[..., WebServer],
    anvil_node: Anvil,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[WebServer, ModuleType]]:
    """A gunicorn on the test run's world, and the client package generated from its document,
    importable (and forgotten again afterwards)."""
    server = servers(anvil_node.url)
    generate_client(f"{server.url}/api/schema/", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield server, importlib.import_module(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def operation(package: ModuleType, name: str) -> Any:
    """One generated operation module (`sync_detailed` and friends), by its operation id."""
    return importlib.import_module(f"{package.__name__}.api.v1.{name}")


def departures(value: Any, where: str) -> list[str]:
    """Where a parsed answer says more than its model: a field the model does not declare (the
    generated models keep those aside in `additional_properties` rather than fail; a model that
    declares no field is a free-form map), or a null in a field not documented as nullable (the
    models check that only for dates and nested objects)."""
    if isinstance(value, list):
        return [found for n, item in enumerate(value) for found in departures(item, f"{where}.{n}")]
    if not attrs.has(type(value)):
        return []
    declared = [f for f in attrs.fields(type(value)) if f.name != "additional_properties"]
    found = [f"{where}.{key}: not in the document" for key in value.additional_properties]
    if not declared:
        found = []
    for field in declared:
        inner = getattr(value, field.name)
        if inner is None and "None" not in str(field.type):
            found.append(f"{where}.{field.name}: null, documented as not nullable")
        found += departures(inner, f"{where}.{field.name}")
    return found


def answered(response: Any, status: int, model: type) -> Any:
    """The typed answer, once its status is the one expected, it parsed as the document's model
    for that status (a required field absent fails the parse) and it departs from that model
    nowhere."""
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), (type(response.parsed), response.content)
    assert departures(response.parsed, model.__name__) == [], response.content
    return response.parsed


def test_a_client_generated_from_the_document_takes_a_shop_from_keys_to_payout(
    generated: tuple[WebServer, ModuleType],
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    stranger: User,
    login: Callable[[User | None], Client],
) -> None:
    server, package = generated
    models = importlib.import_module(f"{package.__name__}.models")

    def client_of(shop: User) -> Any:
        _, token = api_key_create(actor=shop, name="generated client", expires_at=None)
        return package.AuthenticatedClient(
            base_url=server.url, token=token, raise_on_unexpected_status=True
        )

    shop = client_of(winning_shop)
    job = market["jobs"][0]

    # the chain to sign against (public)
    chain = answered(
        operation(package, "chain_info").sync_detailed(client=package.Client(base_url=server.url)),
        200,
        models.ChainInfoOutput,
    )
    assert chain.chain_id == settings.CHAIN_ID
    house = chain.contracts["AuctionHouse"]
    assert house == market["house"]

    # a shop that has registered no keys yet reads that it has none
    nothing = answered(
        operation(package, "shop_keys_retrieve").sync_detailed(client=client_of(stranger)),
        200,
        models.ShopKeysOutput,
    )
    assert (nothing.address, nothing.registered_at, nothing.verified) == ("", None, False)

    # keys: a challenge, then the address and HPKE key, signed as the CLI signs them
    challenge = answered(
        operation(package, "shop_keys_challenge").sync_detailed(client=shop),
        201,
        models.ShopKeyChallengeOutput,
    )
    assert winning_shop.organization is not None
    assert challenge.shop_id == winning_shop.organization.pk
    assert isinstance(challenge.expires_at, datetime)
    account = Account.create()
    _, hpke_public_key = generate_private_key("x25519")
    message = registration_message(
        shop_id=challenge.shop_id, address=account.address, hpke_kem="x25519",
        hpke_public_key=hpke_public_key, challenge=challenge.challenge,
    )  # fmt: skip
    keys = answered(
        operation(package, "shop_keys_register").sync_detailed(
            client=shop,
            body=models.ShopKeysInputRequest(
                challenge=challenge.challenge,
                address=account.address,
                signature="0x" + sign_registration(account.key, message).hex(),
                hpke_kem=models.HpkeKemEnum.X25519,
                hpke_public_key=base64.b64encode(hpke_public_key).decode(),
            ),
        ),
        200,
        models.ShopKeysOutput,
    )
    assert (keys.address, keys.hpke_kem, keys.verified) == (account.address, "x25519", True)
    assert base64.b64decode(keys.hpke_public_key) == hpke_public_key
    assert isinstance(keys.registered_at, datetime)
    drain()  # the new address verified in the AuctionHouse's registry

    # a sealed bid: an EIP-712 signed commitment
    sealed = Bid(job.pk, account.address, PRICE, 12, new_salt())
    signature = sign_sealed_bid(
        account.key, chain_id=chain.chain_id, contract=house, job_id=job.pk,
        commitment=sealed.commitment(), version=1,
    )  # fmt: skip
    bid = answered(
        operation(package, "bids_commit").sync_detailed(
            job.pk,
            client=shop,
            body=models.JobBidsInputRequest(
                commitment="0x" + sealed.commitment().hex(),
                version=1,
                signature="0x" + signature.hex(),
            ),
        ),
        201,
        models.BidOutput,
    )
    assert (bid.job, bid.version, bid.commitment) == (job.pk, 1, "0x" + sealed.commitment().hex())
    assert bid.status == models.BidOutputStatusEnum.COMMITTED
    assert (bid.price, bid.lead_time_days, bid.revealed_on_chain) == (None, None, False)
    assert bid.relay is not None and bid.reveal_relay is None
    drain()
    close_bidding(market, job)

    # its reveal, between the deadlines
    revealed = answered(
        operation(package, "bids_reveal").sync_detailed(
            job.pk,
            client=shop,
            body=models.JobBidRevealInputRequest(
                price=PRICE, lead_time_days=12, salt="0x" + sealed.salt.hex()
            ),
        ),
        200,
        models.BidOutput,
    )
    assert revealed.status == models.BidOutputStatusEnum.REVEALED
    assert (revealed.price, revealed.lead_time_days) == (str(PRICE), 12)
    assert revealed.reveal_relay is not None
    drain()
    finish_auction(market, job)
    assert Order.objects.get(job=job).status == Order.Status.AWARDED
    funded(job, login(customer))  # and the design released to the key registered above
    settle()

    # a print ticket for the part
    ticket = answered(
        operation(package, "tickets_take").sync_detailed(
            job.pk,
            client=shop,
            body=models.JobPrintTicketsInputRequest(machine="EOS P396 #2", part_serial="P-1"),
        ),
        201,
        models.PrintTicketOutput,
    )
    assert (ticket.number, ticket.prints_allowed) == (1, job.quantity + job.spares)
    assert (ticket.machine, ticket.part_serial) == ("EOS P396 #2", "P-1")

    # a production event
    started = answered(
        operation(package, "events_report").sync_detailed(
            job.pk,
            client=shop,
            body=models.JobEventsInputRequest(
                part_serial="P-1",
                kind=models.JobEventsInputKindEnum.PRINT_STARTED,
                data=models.JobEventsInputRequestData.from_dict(
                    {"machine": "EOS P396 #2", "material_lot": "PA12-2291"}
                ),
            ),
        ),
        201,
        models.PartRecordOutput,
    )
    assert (started.job, started.part_serial, started.seq) == (job.pk, "P-1", 1)
    assert started.kind == models.PartRecordOutputKindEnum.PRINT_STARTED
    assert started.passed is None and started.evidence == []
    assert started.anchor.state == models.StateEnum.WAITING

    # evidence (multipart) and a quality record citing it
    sheet = b"characteristic,measured\nBore diameter,10.02\n"
    evidence = answered(
        operation(package, "evidence_upload").sync_detailed(
            job.pk,
            client=shop,
            body=models.JobEvidenceInputRequest(
                file=package.types.File(
                    payload=io.BytesIO(sheet), file_name="bore.csv", mime_type="text/csv"
                )
            ),
        ),
        201,
        models.EvidenceOutput,
    )
    assert (evidence.name, evidence.size_bytes) == ("bore.csv", len(sheet))
    assert evidence.sha256 == hashlib.sha256(sheet).hexdigest()
    measured = answered(
        operation(package, "quality_report").sync_detailed(
            job.pk,
            client=shop,
            body=models.QualityInputRequest(
                part_serial="P-1",
                characteristic="Bore diameter",
                nominal="10.00",
                tolerance="0.05",
                measured="10.02",
                instrument="Mitutoyo CMM",
                evidence=[evidence.id],
            ),
        ),
        201,
        models.PartRecordOutput,
    )
    assert measured.kind == models.PartRecordOutputKindEnum.QUALITY
    assert (measured.seq, measured.characteristic, measured.passed) == (2, "Bore diameter", True)
    assert [e.id for e in measured.evidence] == [evidence.id]

    # delivered, accepted by the customer: the shop's balance waits in the AuctionHouse
    delivery = answered(
        operation(package, "orders_delivered").sync_detailed(job.pk, client=shop),
        202,
        models.ChainTxOutput,
    )
    assert delivery.status == "pending" and delivery.tx_hash is None
    settle()
    assert "Accepted" in post(login(customer), "order_accept", job)
    settle()

    # the payout: a signed EIP-712 Withdrawal, relayed by the operator
    payouts = operation(package, "payouts")
    before = answered(payouts.sync_detailed(client=shop), 200, models.PayoutsOutput)
    assert (before.address, before.pending, before.payouts) == (
        account.address,
        str(PRICE - FEE),
        [],
    )
    deadline = int(time.time()) + 600
    withdrawal = sign_withdrawal(
        account.key, chain_id=chain.chain_id, contract=house, nonce=before.nonce,
        deadline=deadline,
    )  # fmt: skip
    relay = answered(
        operation(package, "payouts_withdraw").sync_detailed(
            client=shop,
            body=models.PayoutWithdrawInputRequest(
                deadline=deadline, signature="0x" + withdrawal.hex()
            ),
        ),
        202,
        models.ChainTxOutput,
    )
    assert relay.status == "pending" and relay.block is None
    settle()
    after = answered(payouts.sync_detailed(client=shop), 200, models.PayoutsOutput)
    assert (after.pending, after.nonce) == ("0", before.nonce + 1)
    (payout,) = after.payouts
    assert payout.amount == str(PRICE - FEE) and payout.tx_hash.startswith("0x")
    assert isinstance(payout.created_at, datetime)
