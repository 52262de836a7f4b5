"""Machine-attested records, checked on chain for ``printfair verify``: a record a machine signed
carries the signed event (its signature was checked offline with the bundle); here the
MachineRegistry is asked whether the key that signed it was that machine's for that event
(``keyOf(signer)``: the machine, the sequence numbers the key signs, when it was approved and
revoked). A key revoked before the record was anchored does not count; one revoked later does,
since the record was on chain while the key was trusted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from printfair.cli.errors import CliError

if TYPE_CHECKING:
    from printfair.cli.chainread import Node
    from printfair.proofs import ProofBundle

# The selector of MachineRegistry's `keyOf(address)` (tests/printfair/test_cli_attested.py
# checks it); it answers five static words: machineId, firstSequence, untilSequence,
# approvedAt, revokedAt.
KEY_OF: Final = bytes.fromhex("fa073d76")
_WORD: Final = 32
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class MachineKey:
    """What the MachineRegistry holds of a key (all zero for a key it never approved)."""

    machine_id: int
    first_sequence: int
    until_sequence: int
    approved_at: int
    revoked_at: int


def key_of(node: Node, registry: str, address: str) -> MachineKey:
    data = "0x" + (KEY_OF + bytes(12) + bytes.fromhex(address[2:])).hex()
    answer = node.call("eth_call", [{"to": registry, "data": data}, "latest"])
    try:
        raw = bytes.fromhex(str(answer).removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 5 * _WORD:
        raise CliError(f"{registry} answered keyOf with {answer!r}: is it a MachineRegistry?")
    words = [int.from_bytes(raw[i : i + _WORD], "big") for i in range(0, len(raw), _WORD)]
    return MachineKey(*words)


def key_problem(attested: Mapping[str, Any], key: MachineKey, anchored_at: int | None) -> str:
    """Why the registry's record of the key does not back the signed event ("" when it does)."""
    machine, sequence = attested.get("machine_id"), attested.get("sequence")
    signer = attested.get("signer")
    if key.approved_at == 0:
        return f"the key {signer} was never registered for a machine"
    if key.machine_id != machine:
        return f"the key {signer} is machine {key.machine_id}'s, not machine {machine}'s"
    if not isinstance(sequence, int) or sequence < key.first_sequence:
        return f"the key {signer} signs machine {machine}'s events from {key.first_sequence} on"
    if key.until_sequence and sequence >= key.until_sequence:
        return f"the key {signer} was replaced from machine {machine}'s event {key.until_sequence}"
    # Block times have whole seconds: a record anchored in the second of the revocation counts
    # (PrintFair stops taking a key's events the moment the shop revokes it, before the chain).
    if key.revoked_at and (anchored_at is None or anchored_at > key.revoked_at):
        return f"the key {signer} was revoked before this record was anchored"
    return ""


def machine_checks(
    node: Node, registry: str | None, bundle: ProofBundle, anchored: Mapping[bytes, int]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each machine-attested record of the bundle checked against the registry (`registry`, or
    the one its bundle names): what was found, and the problems."""
    checked: list[dict[str, Any]] = []
    problems: list[str] = []
    for item in bundle.attested():
        attested = item.attested_by or {}
        contract = registry or item.machine_registry
        entry: dict[str, Any] = {
            "record": item.id,
            "machine_id": attested.get("machine_id"),
            "sequence": attested.get("sequence"),
            "signer": attested.get("signer"),
            "registry": contract,
            "key_registered": False,
        }
        checked.append(entry)
        if not contract:
            problems.append(
                f"part_record {item.id} is machine-attested, but no MachineRegistry is named: "
                "give --machines ADDRESS"
            )
            continue
        signer = attested.get("signer")
        if not (isinstance(signer, str) and _ADDRESS.fullmatch(signer)):
            problems.append(f"part_record {item.id}: its machine signer is no address")
            continue
        try:
            key = key_of(node, contract, signer)
        except CliError as exc:
            problems.append(f"{contract} cannot say whose key signed it: {exc.message}")
            continue
        anchored_at = anchored.get(item.root) if item.root is not None else None
        problem = key_problem(attested, key, anchored_at)
        if problem:
            problems.append(f"part_record {item.id}: {problem} (MachineRegistry {contract})")
            continue
        entry.update(key_registered=True, key_approved_at=key.approved_at)
    return checked, problems
