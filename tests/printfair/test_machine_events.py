"""What a machine signs (printfair/machine_events.py): the EIP-712 structure agrees with ethers v6
(machine_events_interop.mjs writes it from the spec on its own), a signature binds machine,
sequence, time, kind, data and chain, and each kind's data is held to its fields."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from printfair.machine_events import (
    JOB_ENDED,
    JOB_STARTED,
    METERS,
    PROGRESS,
    MachineEvent,
    MachineEventError,
    samples_digest,
)

INTEROP = Path(__file__).with_name("machine_events_interop.mjs")
CHAIN = 31337
KEY = Account.from_key("0x" + "22" * 32)

STARTED: dict[str, Any] = {
    "file_name": "bracket.gcode",
    "file_sha256": "ab" * 32,
    "file_size": 123_456,
    "ticket": "6f1c0b9e-3c1a-4f4e-9d7e-2a1b3c4d5e6f",
    "derived_from": {"design_sha256": "cd" * 32, "slicer": "PrusaSlicer 2.8.1", "profile": "0.2mm"},
}
SAMPLE: dict[str, Any] = {
    "completion": 42.5,
    "elapsed_s": 61.2,
    "layer": 7,
    "temperatures": {"tool0": 214.9},
}
ENDED: dict[str, Any] = {
    "outcome": "finished",
    "duration_s": 3600.5,
    "material_cm3": 12.25,
    "reason": "",
    "samples": {"count": 1, "sha256": "ef" * 32},
}


def event(**changes: Any) -> MachineEvent:
    fields: dict[str, Any] = {
        "machine_id": 7, "sequence": 1, "occurred_at_ms": 1_780_000_000_000,
        "kind": JOB_STARTED, "data": STARTED,
    }  # fmt: skip
    return MachineEvent(**{**fields, **changes})


def test_ethers_signs_the_same_structure_and_its_signature_recovers_here() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the interop test (and installed in CI)"
    events = [
        event(),
        event(sequence=2, kind=PROGRESS, data=SAMPLE),
        event(sequence=3, kind=JOB_ENDED, data=ENDED, machine_id=2**256 - 1),
        event(
            sequence=2**64 - 1, occurred_at_ms=253_402_300_799_999, kind=METERS, data={"cycles": 3}
        ),
    ]
    cases = [
        {
            "privateKey": "0x" + bytes(KEY.key).hex(), "chainId": str(CHAIN),
            "machineId": str(e.machine_id), "sequence": str(e.sequence),
            "occurredAtMs": str(e.occurred_at_ms), "kind": e.kind,
            "dataHash": "0x" + e.data_hash.hex(),
        }
        for e in events
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - our own script
        [node, str(INTEROP), json.dumps(cases)],
        capture_output=True, text=True, check=True, timeout=60, cwd=INTEROP.parents[2],
    )  # fmt: skip
    for e, signed in zip(events, json.loads(done.stdout), strict=True):
        assert signed["digest"] == "0x" + e.digest(chain_id=CHAIN).hex()
        assert e.signer(bytes.fromhex(signed["signature"][2:]), chain_id=CHAIN) == KEY.address
        assert e.sign(KEY, chain_id=CHAIN).hex() == signed["signature"][2:]


@pytest.mark.parametrize(
    "forged",
    [
        {"machine_id": 8},
        {"sequence": 2},
        {"occurred_at_ms": 1_780_000_000_001},
        {"data": {**STARTED, "file_sha256": "ac" * 32}},
        {"kind": PROGRESS, "data": {}},
    ],
    ids=["other machine", "other sequence", "other time", "other file", "other kind"],
)
def test_a_signed_event_moved_to_another_machine_number_time_or_content_names_another_signer(
    forged: dict[str, Any],
) -> None:
    signature = event().sign(KEY, chain_id=CHAIN)
    assert event().signer(signature, chain_id=CHAIN) == KEY.address
    assert event(**forged).signer(signature, chain_id=CHAIN) != KEY.address


def test_an_event_replayed_on_another_chain_names_another_signer() -> None:
    signature = event().sign(KEY, chain_id=CHAIN)
    assert event().signer(signature, chain_id=1) != KEY.address


def test_a_malformed_signature_is_refused_with_a_reason() -> None:
    with pytest.raises(MachineEventError, match="65 bytes"):
        event().signer(b"\x01" * 64, chain_id=CHAIN)
    high_s = bytes(32) + b"\xff" * 32 + b"\x1b"
    with pytest.raises(MachineEventError, match="out of range"):
        event().signer(high_s, chain_id=CHAIN)


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("firmware_update", {}, "kind must be one of"),
        (JOB_STARTED, {**STARTED, "operator_note": "x"}, "unknown field 'operator_note'"),
        (JOB_STARTED, {**STARTED, "file_sha256": "AB" * 32}, "job_started.file_sha256: must be"),
        (JOB_STARTED, {**STARTED, "file_size": -1}, "job_started.file_size"),
        (JOB_STARTED, {**STARTED, "file_name": "x" * 256}, "job_started.file_name"),
        (JOB_STARTED, {**STARTED, "derived_from": {"slicer": "x"}}, "derived_from"),
        (PROGRESS, {"completion": 100.5}, "progress.completion: must be between 0 and 100"),
        (PROGRESS, {"layer": 0}, "progress.layer"),
        (PROGRESS, {"elapsed_s": True}, "progress.elapsed_s: must be a number"),
        (PROGRESS, {"elapsed_s": 1e30}, "progress.elapsed_s: must be between"),
        (PROGRESS, {"temperatures": {"tool0": 5000}}, "progress.temperatures"),
        (PROGRESS, {"temperatures": {f"t{n}": 20 for n in range(17)}}, "at most 16 sensors"),
        (JOB_ENDED, {**ENDED, "outcome": "exploded"}, "job_ended.outcome"),
        (JOB_ENDED, {**ENDED, "samples": {"count": 1}}, "job_ended.samples"),
        (METERS, {"cycles": 1.5}, "meters.cycles: must be a whole number"),
        (METERS, {"print_seconds": -0.1}, "meters.print_seconds"),
    ],
)
def test_data_its_kind_does_not_allow_is_refused_naming_the_field(
    kind: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(MachineEventError, match=message):
        event(kind=kind, data=data)


@pytest.mark.parametrize(
    "changes",
    [{"machine_id": 0}, {"sequence": 0}, {"sequence": 2**64}, {"occurred_at_ms": True}],
)
def test_numbers_outside_their_type_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(MachineEventError, match="must be a positive uint"):
        event(**changes)


def test_a_time_no_date_can_hold_is_refused() -> None:
    # (the server turns the time into a date: 2**64 - 1 ms is past the year 9999)
    with pytest.raises(MachineEventError, match="before the year 10000"):
        event(occurred_at_ms=2**64 - 1)


def test_the_samples_digest_names_the_series_in_order() -> None:
    first: dict[str, Any] = SAMPLE
    second: dict[str, Any] = {**SAMPLE, "layer": 8}
    digest = samples_digest([first, second])
    assert digest["count"] == 2
    assert digest == samples_digest([dict(first), dict(second)])
    assert digest != samples_digest([second, first])
    # and a job's end carries it as its samples field
    event(kind=JOB_ENDED, data={**ENDED, "samples": digest})


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"machine_id": (1 << 256) - 1, "sequence": (1 << 64) - 1, "kind": PROGRESS, "data": SAMPLE},
        {"kind": JOB_ENDED, "data": ENDED, "occurred_at_ms": 1},
    ],
)
@pytest.mark.parametrize("chain_id", [1, CHAIN, (1 << 256) - 1])
def test_the_digest_hashed_field_by_field_is_eth_accounts_typed_data_digest(
    fields: dict[str, Any], chain_id: int
) -> None:
    e = event(**fields)
    signable = encode_typed_data(full_message=e.typed_data(chain_id=chain_id))
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert e.digest(chain_id=chain_id) == expected


@pytest.mark.parametrize("chain_id", [-1, 1 << 256, "31337", True, None])
def test_a_chain_id_that_is_no_uint256_is_refused(chain_id: Any) -> None:
    with pytest.raises(MachineEventError, match="a chain id is a uint256"):
        event().digest(chain_id=chain_id)
