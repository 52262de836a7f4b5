"""Machine events: the one definition of what a machine signs (DESIGN.md section 8).

A machine's agent (`printfair agent`) numbers each thing the machine did and signs it with the
machine's own secp256k1 key, generated on the machine and never sent anywhere. The signature is
EIP-712 typed data, like a shop's sealed bid (`printfair.eip712`)::

    domain       = EIP712Domain(string name, string version, uint256 chainId)
                 = ("PrintFair Machines", "1", <chain id>)
    MachineEvent(uint256 machineId, uint64 sequence, uint64 occurredAtMs, string kind,
                 bytes32 dataHash)

- ``machineId`` is PrintFair's number for the machine, so an event cannot be moved to another
  machine; the chain id keeps it from being replayed on another chain. No contract verifies
  events (they are anchored in Merkle batches like every record), so the domain names none.
- ``sequence`` counts the machine's events from 1 without gaps: the server applies each once, in
  order, and refuses one that skips ahead or reuses a number with other content.
- ``occurredAtMs`` is when the machine did it, in milliseconds since the Unix epoch (UTC).
- ``kind`` is one of `KINDS`; ``dataHash`` is ``record_hash(data)`` (keccak-256 of the data's RFC
  8785 canonical JSON, `printfair.canonical`), so the typed structure stays fixed while each
  kind carries its own fields, and anyone holding the data can check the hash.

What each kind's data holds is checked here (`check_data`), on the agent before it signs and on
the server before it stores, so both refuse the same things with the same words.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Final

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from printfair.canonical import JsonValue, canonical_json, record_hash
from printfair.keys import checksum
from printfair.signatures import SIGNATURE_SIZE, SignatureError, recover_digest, sign_digest

DOMAIN_NAME: Final = "PrintFair Machines"
DOMAIN_VERSION: Final = "1"
MACHINE_EVENT_TYPE: Final = (
    "MachineEvent(uint256 machineId,uint64 sequence,uint64 occurredAtMs,string kind,"
    "bytes32 dataHash)"
)

#: A print job began: the print file as the machine got it, and the print ticket it is for.
JOB_STARTED: Final = "job_started"
#: A sample taken while printing (temperatures, layer, progress). Samples are kept and hashed
#: per job (the job's end carries their digest); they are not anchored one by one.
PROGRESS: Final = "progress"
#: A print job ended: finished, failed or cancelled, with its duration and material.
JOB_ENDED: Final = "job_ended"
#: The machine's lifetime counters; each may only stay or grow.
METERS: Final = "meters"
KINDS: Final = (JOB_STARTED, PROGRESS, JOB_ENDED, METERS)
OUTCOMES: Final = ("finished", "failed", "cancelled")
#: The counters a `meters` event may carry.
METER_NAMES: Final = ("print_seconds", "material_cm3", "cycles")

_TYPES: Final = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "MachineEvent": [
        {"name": "machineId", "type": "uint256"},
        {"name": "sequence", "type": "uint64"},
        {"name": "occurredAtMs", "type": "uint64"},
        {"name": "kind", "type": "string"},
        {"name": "dataHash", "type": "bytes32"},
    ],
}
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT: Final = 500
_MAX_SENSORS: Final = 16
# The last millisecond of the year 9999, the latest time a datetime holds: an event's time is
# one, on the server and in anything that reads the record.
MAX_OCCURRED_AT_MS: Final = 253_402_300_799_999
# Far beyond any real print (ten years of seconds, a cubic metre of material, 10^12 cycles), yet
# small enough that no double loses a unit: a number past these is a broken or hostile agent.
_MAX_NUMBER: Final = 1e12


_EVENT_TYPE_HASH: Final = keccak(MACHINE_EVENT_TYPE.encode())


@lru_cache(maxsize=8)
def _domain_separator(chain_id: int) -> bytes:
    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId)")
    return keccak(
        domain_type
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
    )


class MachineEventError(ValueError):
    """An event that is malformed, or whose signature cannot be checked."""


@dataclass(frozen=True)
class MachineEvent:
    """One signed fact of a machine (see the module's docstring)."""

    machine_id: int
    sequence: int
    occurred_at_ms: int
    kind: str
    data: Mapping[str, JsonValue]

    def __post_init__(self) -> None:
        for value, bits, what in (
            (self.machine_id, 256, "machine id"),
            (self.sequence, 64, "sequence"),
            (self.occurred_at_ms, 64, "occurred_at_ms"),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << bits:
                raise MachineEventError(f"{what} must be a positive uint{bits}, got {value!r}")
        if self.occurred_at_ms > MAX_OCCURRED_AT_MS:
            raise MachineEventError("occurred_at_ms must be a time before the year 10000")
        check_data(self.kind, self.data)

    @cached_property
    def data_hash(self) -> bytes:
        return record_hash(dict(self.data))

    def typed_data(self, *, chain_id: int) -> dict[str, Any]:
        """The full EIP-712 structure, as ``eth_signTypedData_v4`` takes it."""
        return {
            "types": {name: [dict(field) for field in fields] for name, fields in _TYPES.items()},
            "primaryType": "MachineEvent",
            "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id},
            "message": {
                "machineId": self.machine_id,
                "sequence": self.sequence,
                "occurredAtMs": self.occurred_at_ms,
                "kind": self.kind,
                "dataHash": "0x" + self.data_hash.hex(),
            },
        }

    def digest(self, *, chain_id: int) -> bytes:
        """The 32-byte EIP-712 digest that is signed, hashed here field by field (the server
        checks thousands a second; `typed_data` through eth_account's encoder gives the same
        digest, which tests/printfair/test_machine_events.py checks, and so does ethers)."""
        if (
            not isinstance(chain_id, int)
            or isinstance(chain_id, bool)
            or not 0 <= chain_id < 1 << 256
        ):
            raise MachineEventError(f"a chain id is a uint256, got {chain_id!r}")
        struct = keccak(
            _EVENT_TYPE_HASH
            + self.machine_id.to_bytes(32, "big")
            + self.sequence.to_bytes(32, "big")
            + self.occurred_at_ms.to_bytes(32, "big")
            + keccak(self.kind.encode())
            + self.data_hash
        )
        return keccak(b"\x19\x01" + _domain_separator(chain_id) + struct)

    def sign(self, account: LocalAccount, *, chain_id: int) -> bytes:
        return sign_digest(account, self.digest(chain_id=chain_id))

    def signer(self, signature: bytes, *, chain_id: int) -> str:
        """The checksum address of the key that signed this event."""
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
            raise MachineEventError(f"a signature is {SIGNATURE_SIZE} bytes")
        try:
            return recover_digest(signature, self.digest(chain_id=chain_id))
        except SignatureError as exc:
            raise MachineEventError(str(exc)) from None


def attested_signer(record: Mapping[str, Any]) -> str:
    """The key that signed an anchored machine event (the ``attested_by`` of a machine-attested
    part record, or a ``machine_event`` record): recovered from the signature over the event's
    own fields, which must also hash to the data hash and name that same signer. Whether the
    key was the machine's when it signed is the MachineRegistry's to say, on chain."""
    try:
        event = MachineEvent(
            machine_id=record["machine_id"],
            sequence=record["sequence"],
            occurred_at_ms=record["occurred_at_ms"],
            kind=record["kind"],
            data=record["data"],
        )
        signature = bytes.fromhex(str(record["signature"]).removeprefix("0x"))
        signer = event.signer(signature, chain_id=record["chain_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MachineEventError(f"not a signed machine event: {exc}") from None
    if record.get("data_hash") != "0x" + event.data_hash.hex():
        raise MachineEventError("its data does not hash to the data hash it names")
    if signer != record.get("signer"):
        raise MachineEventError(f"it was signed by {signer}, not by {record.get('signer')}")
    return signer


def check_data(kind: str, data: Mapping[str, JsonValue]) -> None:
    """Refuse data that its kind does not allow, naming the field (MachineEventError)."""
    if kind not in KINDS:
        raise MachineEventError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(data, Mapping):
        raise MachineEventError("data must be an object")
    fields = _FIELDS[kind]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MachineEventError(f"{kind}: unknown field {unknown[0]!r}")
    for name, check in fields.items():
        try:
            check(data.get(name))
        except MachineEventError as exc:
            raise MachineEventError(f"{kind}.{name}: {exc}") from None


def _number(value: Any, *, nullable: bool = True, top: float = _MAX_NUMBER) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MachineEventError("must be a number" + (" or null" if nullable else ""))
    if not 0 <= value <= top:
        raise MachineEventError(f"must be between 0 and {top:g}")


def _temperature(value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not -100 <= value <= 3000:
        raise MachineEventError("a temperature is a number of °C between -100 and 3000")


def _count(value: Any, *, nullable: bool = True, least: int = 0) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= _MAX_NUMBER:
        raise MachineEventError(f"must be a whole number from {least}")


def _text(value: Any, *, nullable: bool = False, longest: int = _MAX_TEXT) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str) or len(value) > longest:
        raise MachineEventError(f"must be text of at most {longest} characters")


def _sha256(value: Any, *, nullable: bool = True) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise MachineEventError("must be a SHA-256 in lowercase hex (64 characters)")


def _derived(value: Any) -> None:
    """A print file that is not the released design itself (sliced G-code): what it came from."""
    if value is None:
        return
    if not isinstance(value, Mapping) or set(value) != {"design_sha256", "slicer", "profile"}:
        raise MachineEventError("must be null or {design_sha256, slicer, profile}")
    _sha256(value["design_sha256"], nullable=False)
    _text(value["slicer"], longest=200)
    _text(value["profile"], longest=200)


def _temperatures(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping) or len(value) > _MAX_SENSORS:
        raise MachineEventError(f"must be an object of at most {_MAX_SENSORS} sensors")
    for sensor, reading in value.items():
        _text(sensor, longest=40)
        _temperature(reading)


def _outcome(value: Any) -> None:
    if value not in OUTCOMES:
        raise MachineEventError(f"must be one of {', '.join(OUTCOMES)}")


def _samples(value: Any) -> None:
    """The job's progress samples, kept off chain: how many, and the hash of their list."""
    if value is None:
        return
    if not isinstance(value, Mapping) or set(value) != {"count", "sha256"}:
        raise MachineEventError("must be null or {count, sha256}")
    _count(value["count"], nullable=False)
    _sha256(value["sha256"], nullable=False)


_FIELDS: Final[dict[str, dict[str, Any]]] = {
    JOB_STARTED: {
        "file_name": lambda v: _text(v, longest=255),
        "file_sha256": _sha256,
        "file_size": _count,
        # The print ticket (its record id) this print is for, when the agent knows it.
        "ticket": lambda v: _text(v, nullable=True, longest=64),
        "derived_from": _derived,
    },
    PROGRESS: {
        "completion": lambda v: _number(v, top=100),
        "elapsed_s": _number,
        "layer": lambda v: _count(v, least=1),
        "temperatures": _temperatures,
    },
    JOB_ENDED: {
        "outcome": _outcome,
        "duration_s": _number,
        "material_cm3": _number,
        "reason": lambda v: _text(v, nullable=True),
        "samples": _samples,
    },
    METERS: {
        "print_seconds": _number,
        "material_cm3": _number,
        "cycles": _count,
    },
}


def samples_digest(samples: Sequence[Mapping[str, JsonValue]]) -> dict[str, JsonValue]:
    """What a job's end says of its progress samples (each the data of a `progress` event, in
    sequence order): their count and the SHA-256 of the canonical JSON of ``{"samples": [...]}``."""
    series = canonical_json({"samples": [dict(sample) for sample in samples]})
    return {"count": len(samples), "sha256": hashlib.sha256(series).hexdigest()}


# --- pairing: the shop approves the key its agent made ------------------------------------------


def pairing_message(*, machine_id: int, address: str, chain_id: int) -> str:
    """The text a machine's new key signs (EIP-191) to show the agent holds it."""
    return "\n".join(
        [
            "PrintFair machine key",
            f"Machine: {machine_id}",
            f"Address: {checksum(address)}",
            f"Chain: {chain_id}",
        ]
    )


def pairing_code(*, machine_id: int, address: str) -> str:
    """The code the agent shows beside the printer and the shop types to approve its key:
    40 bits of the key's address and the machine's number, in base32 (``ABCD-EFGH``). It is not
    a secret; it makes the person approving compare the key they approve with the one the
    machine holds, so that a key proposed by anyone else with the shop's API key (whose code
    differs) is not approved by mistake."""
    digest = keccak(f"PrintFair machine pairing:{machine_id}:{checksum(address)}".encode())
    code = base64.b32encode(digest[:5]).decode()
    return f"{code[:4]}-{code[4:]}"
