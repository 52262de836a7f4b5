"""What the contract events the apps handle carry, as typed payloads (DESIGN.md section 4,
"Indexer").

The indexer stores an event's arguments as JSON (`stored_args`: bytes as 0x-hex, integers as
decimal strings, since uint256 exceeds what JSON numbers hold safely). A payload class says once
what one event carries, in Python types, and decodes the stored arguments into itself; the
handlers (ledger/handlers.py) receive the payload, not the JSON:

    @event_payload("AuctionHouse", "BidRevealed")
    @dataclass(frozen=True)
    class BidRevealed(JobEvent):
        shop: ChecksumAddress
        price: int
        lead_time_days: int

A field is the event's argument of the same name in camelCase (`lead_time_days` is
`leadTimeDays`), decoded by its type: `int` from a uint, `datetime` (UTC) from a uint of Unix
seconds, `bool` from a bool, `ChecksumAddress` from an address, `Bytes32` (0x and 64 lowercase
hex digits, the form the apps keep hashes and references in) from a bytes32. Stored arguments
that do not decode (an argument missing, a number that is not one) raise MalformedEventError
naming the event and the argument, before any handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, NewType, Self, TypeVar, get_type_hints

from django.core.exceptions import ImproperlyConfigured
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

if TYPE_CHECKING:
    from ledger.models import ChainEvent

# A bytes32 as the apps keep it: "0x" and 64 lowercase hex digits.
Bytes32 = NewType("Bytes32", str)

UINT256_MAX = 2**256 - 1
_UINT = re.compile(r"[0-9]+")
_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")


class MalformedEventError(ValueError):
    """Stored event arguments that do not decode into the event's payload."""


# --- the stored form ------------------------------------------------------------------------


def stored_args(value: Any) -> Any:
    """ABI values (web3's decoded event arguments) as JSON that keeps them exactly: bytes as
    0x-hex, integers as decimal strings. ChainEvent.args holds this; payloads decode it."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return {key: stored_args(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [stored_args(item) for item in value]
    raise TypeError(f"no JSON form for ABI value {value!r}")


# --- decoding one stored argument -----------------------------------------------------------
# Each raises ValueError with what is wrong; the payload adds which event and argument.


def _uint(value: object) -> int:
    # A JSON integer is taken too: it is exact once parsed, and int() used to take it.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _UINT.fullmatch(value):
        number = int(value)
    else:
        raise ValueError(f"is not an unsigned integer: {value!r}")
    if not 0 <= number <= UINT256_MAX:
        raise ValueError(f"is out of a uint256's range: {value!r}")
    return number


def _timestamp(value: object) -> datetime:
    seconds = _uint(value)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"is not a time: {value!r} seconds") from None


def _address(value: object) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"is not an address: {value!r}")
    return to_checksum_address(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"is not a boolean: {value!r}")
    return value


def _bytes32(value: object) -> Bytes32:
    if not isinstance(value, str) or not _BYTES32.fullmatch(value):
        raise ValueError(f"is not a 0x-hex bytes32: {value!r}")
    return Bytes32(value.lower())


_DECODERS: dict[object, Callable[[object], object]] = {
    bool: _bool,
    int: _uint,
    datetime: _timestamp,
    ChecksumAddress: _address,
    Bytes32: _bytes32,
}


@dataclass(frozen=True)
class _Argument:
    field: str
    name: str  # as in the ABI
    decode: Callable[[object], object]


def _abi_name(field: str) -> str:
    first, *rest = field.split("_")
    return first + "".join(word.capitalize() for word in rest)


# --- payloads -------------------------------------------------------------------------------


class EventPayload:
    """What one contract event carries; subclasses are frozen dataclasses registered with
    `event_payload`."""

    contract: ClassVar[str]
    event: ClassVar[str]
    _arguments: ClassVar[tuple[_Argument, ...]]

    @classmethod
    def from_args(cls, args: object, *, source: str | None = None) -> Self:
        """Decodes stored arguments (ChainEvent.args); `source` says where they are from in
        the error."""
        where = f"{cls.contract}.{cls.event}" if source is None else source
        if not isinstance(args, Mapping):
            raise MalformedEventError(f"{where}: arguments are not an object: {args!r}")
        values = {}
        for argument in cls._arguments:
            if argument.name not in args:
                raise MalformedEventError(f"{where}: argument {argument.name!r} is missing")
            try:
                values[argument.field] = argument.decode(args[argument.name])
            except ValueError as exc:
                raise MalformedEventError(f"{where}: argument {argument.name!r} {exc}") from None
        return cls(**values)

    @classmethod
    def from_event(cls, event: ChainEvent) -> Self:
        """The payload of a stored event of this kind."""
        if (event.contract, event.name) != (cls.contract, cls.event):
            raise MalformedEventError(f"{event} is not a {cls.contract}.{cls.event}")
        return cls.from_args(event.args, source=f"{event} (tx {event.tx_hash})")


P = TypeVar("P", bound=EventPayload)

_payloads: dict[tuple[str, str], type[EventPayload]] = {}


def event_payload(contract: str, event: str) -> Callable[[type[P]], type[P]]:
    """Registers the decorated dataclass as the payload of `contract`'s `event`."""

    def register(cls: type[P]) -> type[P]:
        if not is_dataclass(cls):
            raise ImproperlyConfigured(f"{cls.__qualname__}: event_payload goes above @dataclass")
        hints = get_type_hints(cls)
        arguments = []
        for item in fields(cls):
            decode = _DECODERS.get(hints[item.name])
            if decode is None:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__}.{item.name}: no decoding for {hints[item.name]!r}"
                )
            arguments.append(_Argument(item.name, _abi_name(item.name), decode))
        cls.contract, cls.event, cls._arguments = contract, event, tuple(arguments)
        registered = _payloads.setdefault((contract, event), cls)
        if registered is not cls:
            raise ImproperlyConfigured(
                f"{contract}.{event} already has a payload: {registered.__qualname__}"
            )
        return cls

    return register


def payload_type(contract: str, event: str) -> type[EventPayload] | None:
    """The payload class of `contract`'s `event`, if it has one."""
    return _payloads.get((contract, event))


def payloads() -> Mapping[tuple[str, str], type[EventPayload]]:
    return dict(_payloads)


# --- the AuctionHouse -----------------------------------------------------------------------


@dataclass(frozen=True)
class JobEvent(EventPayload):
    """An AuctionHouse event about one job's auction or escrow."""

    job_id: int


@event_payload("AuctionHouse", "AuctionFinalized")
@dataclass(frozen=True)
class AuctionFinalized(JobEvent):
    winner: ChecksumAddress
    price: int
    lead_time_days: int
    funding_deadline: datetime


@event_payload("AuctionHouse", "AwardExpired")
@dataclass(frozen=True)
class AwardExpired(JobEvent):
    shop: ChecksumAddress
    passed_on: bool


@event_payload("AuctionHouse", "AuctionCancelled")
@dataclass(frozen=True)
class AuctionCancelled(JobEvent):
    by: ChecksumAddress
    reason_hash: Bytes32


@event_payload("AuctionHouse", "AuctionFailed")
@dataclass(frozen=True)
class AuctionFailed(JobEvent):
    pass


@event_payload("AuctionHouse", "BidCommitted")
@dataclass(frozen=True)
class BidCommitted(JobEvent):
    shop: ChecksumAddress
    commitment: Bytes32
    version: int


@event_payload("AuctionHouse", "BidRevealed")
@dataclass(frozen=True)
class BidRevealed(JobEvent):
    shop: ChecksumAddress
    price: int
    lead_time_days: int


@event_payload("AuctionHouse", "EscrowFunded")
@dataclass(frozen=True)
class EscrowFunded(JobEvent):
    amount: int
    delivery_deadline: datetime


@event_payload("AuctionHouse", "DeliveryRecorded")
@dataclass(frozen=True)
class DeliveryRecorded(JobEvent):
    delivered_at: datetime
    claim_deadline: datetime


@event_payload("AuctionHouse", "EscrowReleased")
@dataclass(frozen=True)
class EscrowReleased(JobEvent):
    shop_amount: int
    fee: int


@event_payload("AuctionHouse", "EscrowDisputed")
@dataclass(frozen=True)
class EscrowDisputed(JobEvent):
    evidence_hash: Bytes32


@event_payload("AuctionHouse", "DisputeResolved")
@dataclass(frozen=True)
class DisputeResolved(JobEvent):
    # Before the fee: the shop is paid shop_amount - fee.
    shop_amount: int
    fee: int
    customer_amount: int


@event_payload("AuctionHouse", "EscrowRefunded")
@dataclass(frozen=True)
class EscrowRefunded(JobEvent):
    amount: int


@event_payload("AuctionHouse", "Withdrawn")
@dataclass(frozen=True)
class Withdrawn(EventPayload):
    account: ChecksumAddress
    amount: int


# --- the DesignRegistry ---------------------------------------------------------------------


@event_payload("DesignRegistry", "DesignRegistered")
@dataclass(frozen=True)
class DesignRegistered(EventPayload):
    design_hash: Bytes32
    owner_ref: Bytes32
    timestamp: datetime
