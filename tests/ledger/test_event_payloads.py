"""Typed event payloads (ledger/events.py): each event the apps handle decodes from what the
indexer stores, and stored arguments that do not decode are refused, naming the event and the
argument, before any handler runs.

The stored arguments are made the indexer's way: a log encoded as the contract emits it, decoded
with the contract's ABI (web3's `process_log`) and kept in the stored form (`stored_args`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any, cast

import pytest
from eth_abi.abi import encode
from eth_typing import ABIEvent
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from ledger import handlers
from ledger.contracts import load_artifact
from ledger.events import (
    UINT256_MAX,
    AuctionCancelled,
    AuctionFailed,
    AuctionFinalized,
    AwardExpired,
    BidCommitted,
    BidRevealed,
    Bytes32,
    DeliveryRecorded,
    DesignRegistered,
    DisputeResolved,
    EscrowDisputed,
    EscrowFunded,
    EscrowRefunded,
    EscrowReleased,
    EventPayload,
    MalformedEventError,
    Withdrawn,
    payload_type,
    payloads,
    stored_args,
)
from ledger.handlers import chain_events_dispatch, event_handler
from ledger.models import ChainEvent
from marketplace.models import Job, Order, User
from printshops.models import PrintShopProfile
from tests import factories

SHOP = to_checksum_address("0x" + "ab" * 20)
HASH = Bytes32("0x" + "5e" * 32)
OWNER = Bytes32("0x" + "0f" * 32)
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
LATER = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
_serial = count(1)


def stored(contract_name: str, event_name: str, **values: Any) -> ChainEvent:
    """The (unsaved) ChainEvent the indexer makes of `event_name` emitted with `values`."""
    abi_event = Web3().eth.contract(abi=load_artifact(contract_name).abi).events[event_name]()
    inputs = abi_event.abi["inputs"]
    address = "0x" + "11" * 20
    indexed = [i for i in inputs if i["indexed"]]
    data = [i for i in inputs if not i["indexed"]]
    n = next(_serial)
    log = {
        "address": address,
        "topics": [HexBytes(abi_event.topic)]
        + [HexBytes(encode([i["type"]], [values[i["name"]]])) for i in indexed],
        "data": HexBytes(encode([i["type"] for i in data], [values[i["name"]] for i in data])),
        "blockHash": HexBytes(n.to_bytes(32, "big")),
        "blockNumber": n,
        "logIndex": 0,
        "transactionHash": HexBytes(n.to_bytes(32, "big")),
        "transactionIndex": 0,
        "removed": False,
    }
    return ChainEvent(
        chain_id=31337,
        block_number=n,
        block_hash="0x" + f"{n:064x}",
        log_index=0,
        tx_hash="0x" + f"{n:064x}",
        contract=contract_name,
        address=address,
        name=event_name,
        args=stored_args(abi_event.process_log(log)["args"]),
    )


def seconds(when: datetime) -> int:
    return int(when.timestamp())


# (contract, event, the values emitted, the payload expected)
EMITTED: list[tuple[str, str, dict[str, Any], EventPayload]] = [
    (
        "AuctionHouse",
        "AuctionFinalized",
        {
            "jobId": 7,
            "winner": SHOP,
            "price": UINT256_MAX,
            "leadTimeDays": 5,
            "fundingDeadline": seconds(LATER),
        },
        AuctionFinalized(
            job_id=7, winner=SHOP, price=UINT256_MAX, lead_time_days=5, funding_deadline=LATER
        ),
    ),
    ("AuctionHouse", "AuctionFailed", {"jobId": 8}, AuctionFailed(job_id=8)),
    (
        "AuctionHouse",
        "AwardExpired",
        {"jobId": 7, "shop": SHOP, "passedOn": True},
        AwardExpired(job_id=7, shop=SHOP, passed_on=True),
    ),
    (
        "AuctionHouse",
        "AuctionCancelled",
        {"jobId": 7, "by": SHOP, "reasonHash": bytes.fromhex("5e" * 32)},
        AuctionCancelled(job_id=7, by=SHOP, reason_hash=HASH),
    ),
    (
        "AuctionHouse",
        "BidCommitted",
        {"jobId": 7, "shop": SHOP, "commitment": bytes.fromhex("5e" * 32), "version": 3},
        BidCommitted(job_id=7, shop=SHOP, commitment=HASH, version=3),
    ),
    (
        "AuctionHouse",
        "BidRevealed",
        {"jobId": 7, "shop": SHOP, "price": 400_000_000, "leadTimeDays": 12},
        BidRevealed(job_id=7, shop=SHOP, price=400_000_000, lead_time_days=12),
    ),
    (
        "AuctionHouse",
        "EscrowFunded",
        {"jobId": 7, "amount": 400_000_000, "deliveryDeadline": seconds(LATER)},
        EscrowFunded(job_id=7, amount=400_000_000, delivery_deadline=LATER),
    ),
    (
        "AuctionHouse",
        "DeliveryRecorded",
        {"jobId": 7, "deliveredAt": seconds(WHEN), "claimDeadline": seconds(LATER)},
        DeliveryRecorded(job_id=7, delivered_at=WHEN, claim_deadline=LATER),
    ),
    (
        "AuctionHouse",
        "EscrowReleased",
        {"jobId": 7, "shopAmount": 390_000_000, "fee": 10_000_000},
        EscrowReleased(job_id=7, shop_amount=390_000_000, fee=10_000_000),
    ),
    (
        "AuctionHouse",
        "EscrowDisputed",
        {"jobId": 7, "evidenceHash": bytes.fromhex("5e" * 32)},
        EscrowDisputed(job_id=7, evidence_hash=HASH),
    ),
    (
        "AuctionHouse",
        "DisputeResolved",
        {"jobId": 7, "shopAmount": 200_000_000, "fee": 5_000_000, "customerAmount": 200_000_000},
        DisputeResolved(
            job_id=7, shop_amount=200_000_000, fee=5_000_000, customer_amount=200_000_000
        ),
    ),
    (
        "AuctionHouse",
        "EscrowRefunded",
        {"jobId": 7, "amount": 400_000_000},
        EscrowRefunded(job_id=7, amount=400_000_000),
    ),
    (
        "AuctionHouse",
        "Withdrawn",
        {"account": SHOP, "amount": 390_000_000},
        Withdrawn(account=SHOP, amount=390_000_000),
    ),
    (
        "DesignRegistry",
        "DesignRegistered",
        {
            "designHash": bytes.fromhex("5e" * 32),
            "ownerRef": bytes.fromhex("0f" * 32),
            "timestamp": seconds(WHEN),
        },
        DesignRegistered(design_hash=HASH, owner_ref=OWNER, timestamp=WHEN),
    ),
]


@pytest.mark.parametrize(
    ("contract_name", "event_name", "values", "expected"),
    EMITTED,
    ids=[event_name for _, event_name, _, _ in EMITTED],
)
def test_each_event_decodes_from_what_the_indexer_stores(
    contract_name: str, event_name: str, values: dict[str, Any], expected: EventPayload
) -> None:
    # given: the event as the indexer stores it (integers as decimal strings, bytes as 0x-hex)
    event = stored(contract_name, event_name, **values)
    # (a bool stays a JSON bool)
    assert all(isinstance(value, str | bool) for value in event.args.values())

    # when
    payload = payload_type(contract_name, event_name)
    assert payload is not None
    decoded = payload.from_event(event)

    # then: the Python values emitted, typed
    assert decoded == expected
    assert type(decoded) is payload


def test_every_event_the_apps_handle_has_a_payload() -> None:
    handled = set(handlers._handlers)
    assert handled == {(p.contract, p.event) for p in payloads().values()}
    assert {(c, e) for c, e, _, _ in EMITTED} == handled


@pytest.mark.parametrize("payload", list(payloads().values()), ids=lambda p: p.event)
def test_each_payload_is_its_events_arguments_in_the_abi(payload: type[EventPayload]) -> None:
    abi = load_artifact(payload.contract).abi
    [event] = [e for e in abi if e.get("type") == "event" and e.get("name") == payload.event]
    inputs = cast(ABIEvent, event)["inputs"]
    decoded_as = {
        "address": ("_address",),
        "bytes32": ("_bytes32",),
        "bool": ("_bool",),
        **{f"uint{bits}": ("_uint", "_timestamp") for bits in range(8, 257, 8)},
    }
    arguments = {a.name: a.decode.__name__ for a in payload._arguments}

    assert set(arguments) == {i["name"] for i in inputs}
    for item in inputs:
        assert arguments[item["name"]] in decoded_as[item["type"]], item


def test_a_json_integer_is_taken_as_well_as_a_decimal_string() -> None:
    args = {
        "jobId": 7, "winner": SHOP.lower(), "price": "400000000", "leadTimeDays": 5,
        "fundingDeadline": seconds(LATER),
    }  # fmt: skip

    decoded = AuctionFinalized.from_args(args)

    assert decoded == AuctionFinalized(
        job_id=7, winner=SHOP, price=400_000_000, lead_time_days=5, funding_deadline=LATER
    )


def test_hex_is_kept_lowercase_as_the_apps_keep_hashes() -> None:
    args = {"designHash": "0x" + "5E" * 32, "ownerRef": OWNER, "timestamp": "0"}

    decoded = DesignRegistered.from_args(args)

    assert decoded.design_hash == HASH
    assert decoded.timestamp == datetime(1970, 1, 1, tzinfo=UTC)


# --- refusals -------------------------------------------------------------------------------

REVEALED = {"jobId": "7", "shop": SHOP, "price": "400000000", "leadTimeDays": "12"}


@pytest.mark.parametrize(
    ("changes", "argument", "problem"),
    [
        ({"price": None}, "price", "is missing"),
        ({"price": "four hundred"}, "price", "is not an unsigned integer"),
        ({"price": "-1"}, "price", "is not an unsigned integer"),
        ({"price": "1_000"}, "price", "is not an unsigned integer"),
        ({"price": " 12"}, "price", "is not an unsigned integer"),
        ({"price": ""}, "price", "is not an unsigned integer"),
        ({"price": 1.5}, "price", "is not an unsigned integer"),
        ({"price": True}, "price", "is not an unsigned integer"),
        ({"price": str(UINT256_MAX + 1)}, "price", "is out of a uint256's range"),
        ({"jobId": None}, "jobId", "is missing"),
        ({"shop": "0x1234"}, "shop", "is not an address"),
        ({"shop": 7}, "shop", "is not an address"),
    ],
)
def test_a_malformed_payload_is_refused_naming_the_event_and_argument(
    changes: dict[str, Any], argument: str, problem: str
) -> None:
    event = stored("AuctionHouse", "BidRevealed", jobId=7, shop=SHOP, price=1, leadTimeDays=12)
    args = {**REVEALED, **changes}
    event.args = {key: value for key, value in args.items() if value is not None}

    with pytest.raises(MalformedEventError) as refused:
        BidRevealed.from_event(event)

    message = str(refused.value)
    assert message.startswith(f"AuctionHouse.BidRevealed in block {event.block_number} #0")
    assert event.tx_hash in message
    assert f"argument {argument!r} {problem}" in message


@pytest.mark.parametrize(
    ("payload", "args", "argument", "problem"),
    [
        (
            EscrowDisputed,
            {"jobId": "7", "evidenceHash": "0x" + "5e" * 31},
            "evidenceHash",
            "bytes32",
        ),
        (EscrowDisputed, {"jobId": "7", "evidenceHash": "5e" * 32}, "evidenceHash", "bytes32"),
        (
            DeliveryRecorded,
            {"jobId": "7", "deliveredAt": str(2**64), "claimDeadline": "0"},
            "deliveredAt",
            "is not a time",
        ),
        (
            DeliveryRecorded,
            {"jobId": "7", "deliveredAt": "1700000000", "claimDeadline": "soon"},
            "claimDeadline",
            "is not an unsigned integer",
        ),
    ],
)
def test_a_malformed_hash_or_time_is_refused(
    payload: type[EventPayload], args: dict[str, Any], argument: str, problem: str
) -> None:
    with pytest.raises(MalformedEventError, match=rf"^AuctionHouse\.{payload.event}: ") as refused:
        payload.from_args(args)

    assert f"argument {argument!r}" in str(refused.value) and problem in str(refused.value)


def test_arguments_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(MalformedEventError, match=r"AuctionHouse\.Withdrawn: arguments are not"):
        Withdrawn.from_args(["0x" + "ab" * 20, "1"])


def test_an_event_of_another_kind_is_refused() -> None:
    event = stored("AuctionHouse", "EscrowFunded", jobId=7, amount=1, deliveryDeadline=1)

    with pytest.raises(MalformedEventError, match=r"is not a AuctionHouse\.EscrowRefunded"):
        EscrowRefunded.from_event(event)


def test_an_event_with_a_payload_is_not_registered_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "_handlers", dict(handlers._handlers))

    with pytest.raises(Exception, match=r"has a payload: register with event_handler\(Withdrawn"):
        event_handler("AuctionHouse", "Withdrawn")(lambda event: None)


# --- through the dispatcher -----------------------------------------------------------------


def failed_auction(customer: User) -> tuple[Job, ChainEvent]:
    """An open job of the customer's, and a stored AuctionFailed of its auction, not applied."""
    job = factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN)
    event = stored("AuctionHouse", "AuctionFailed", jobId=job.pk)
    event.save()
    return job, event


def test_the_dispatcher_hands_the_handler_the_decoded_payload(customer: User) -> None:
    job, event = failed_auction(customer)

    assert chain_events_dispatch(chain_id=event.chain_id) == 1

    job.refresh_from_db()
    event.refresh_from_db()
    assert job.status == Job.Status.FAILED and event.applied


def test_a_handler_taken_away_again_is_no_longer_dispatched(
    monkeypatch: pytest.MonkeyPatch, customer: User
) -> None:
    """The dispatcher builds its statement once per set of handled kinds: a kind handled for a
    while (as in the indexer's tests) must not stay in it once its handler is gone."""
    # given: a handler for RootAnchored (the app has none), which dispatches one
    original = handlers._handlers
    monkeypatch.setattr(handlers, "_handlers", dict(original))
    seen: list[int] = []
    event_handler("RecordAnchor", "RootAnchored")(lambda event: seen.append(event.pk))
    first = stored("RecordAnchor", "RootAnchored", root=b"\x01" * 32, batchId=1, leafCount=1)
    first.save()
    assert chain_events_dispatch(chain_id=first.chain_id) == 1 and seen == [first.pk]

    # when: the handlers are as they were, and another RootAnchored and an event the app
    # handles are stored
    monkeypatch.setattr(handlers, "_handlers", original)
    second = stored("RecordAnchor", "RootAnchored", root=b"\x02" * 32, batchId=2, leafCount=1)
    second.save()
    _, failed = failed_auction(customer)

    # then: only the handled one is applied; the other stays unapplied for a handler to come
    assert chain_events_dispatch(chain_id=failed.chain_id) == 1
    second.refresh_from_db()
    failed.refresh_from_db()
    assert failed.applied and not second.applied and seen == [first.pk]


def test_a_malformed_stored_event_fails_its_dispatch_before_the_handler_and_stays_unapplied(
    customer: User, winning_shop: User
) -> None:
    # given: an award to a shop known here, whose stored price is not a number
    PrintShopProfile.objects.filter(organization=winning_shop.organization).update(eth_address=SHOP)
    job = factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN)
    event = stored(
        "AuctionHouse",
        "AuctionFinalized",
        jobId=job.pk,
        winner=SHOP,
        price=9,
        leadTimeDays=5,
        fundingDeadline=1,
    )
    good = event.args
    event.args = {**good, "price": "a lot"}
    event.save()

    # when
    with pytest.raises(MalformedEventError) as refused:
        chain_events_dispatch(chain_id=event.chain_id)

    # then: the error names the event and the argument; nothing was applied
    assert str(refused.value).startswith(f"{event} (tx {event.tx_hash}): argument 'price'")
    event.refresh_from_db()
    assert not event.applied
    assert not Order.objects.filter(job=job).exists()

    # and the same event with its price makes the order
    ChainEvent.objects.filter(pk=event.pk).update(args=good)
    assert chain_events_dispatch(chain_id=event.chain_id) == 1
    order = Order.objects.get(job=job)
    assert (order.price, order.lead_time_days, order.shop_address) == (Decimal(9), 5, SHOP)
