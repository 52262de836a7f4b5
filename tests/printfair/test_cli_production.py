"""`printfair report`, `records` and `verify` (DESIGN.md section 3 steps 9 to 11): production
events and quality measurements reported from the command line against a live server, anchored
on a real anvil, and checked against the chain by anyone with `printfair verify`; and the pure
parts (CSV checks, matching rows already recorded, progress, targets) on their own."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ledger.anvil import free_port
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.services.anchoring import anchor_batch_seal
from marketplace.models import Job, User
from printfair.canonical import JsonValue, record_hash
from printfair.cli.commands import report as report_command
from printfair.cli.commands.records import gate_lines, summary
from printfair.cli.commands.report import (
    Measurement,
    RowProgress,
    format_limits,
    line_ranges,
    match_recorded,
    parse_time,
    read_measurements,
)
from printfair.cli.commands.verify import Target, anchor_points, describe, parse_target
from printfair.cli.errors import CliError
from printfair.merkle import MerkleTree, record_leaf
from printfair.production import (
    batch_entry_field,
    batch_entry_label,
    batch_entry_named,
    validate_quality,
    without_batch_entry_label,
)
from printfair.proofs import ProofBundle, bundle_json
from printshops.authentication import ApiKeyRateThrottle
from printshops.models import Certificate, EvidenceFile, PartRecord
from printshops.services import api_key_create
from tests.scenarios import Released, Run, delivered, post, settle

MACHINE = "EOS M 290 #2"
SERIALS = ("P-001", "P-002", "P-003")
# A PNG as PrintFair sniffs it (the signature; the rest is not looked at).
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def bundle_of(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return bundle_json(
        kind="part_record",
        record_id=str(record["id"]),
        record=record,
        anchored_hash=None,
        proof=[],
        root=None,
        batch=None,
        chain_id=31337,
        anchor_contract=None,
        anchor_tx=None,
        block_number=None,
        **extra,
    )


def quality_record(**data: Any) -> dict[str, Any]:
    return {
        "kind": "part_record",
        "id": "0f0e0d0c-0000-4000-8000-000000000001",
        "job": 42,
        "part_serial": "P-001",
        "seq": 3,
        "type": "quality",
        "data": {"characteristic": "Bore", "measured": "10.03", "unit": "mm", **data},
        "passed": True,
    }


# --- pure parts -------------------------------------------------------------------------------


def test_times_need_an_offset_and_cannot_be_in_the_future() -> None:
    assert parse_time("2026-05-01T09:30Z", now=NOW) == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert parse_time("2026-05-01T11:30:00+02:00", now=NOW).utcoffset() == timedelta(hours=2)
    assert parse_time("2026-05-01T12:04Z", now=NOW)  # within the clock skew allowed
    for text, problem in (
        ("2026-05-01T09:30", "has no UTC offset"),
        ("yesterday", "is not an ISO 8601 time"),
        ("2026-05-01T12:30Z", "is in the future"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=problem):
            parse_time(text, now=NOW)


def test_a_batch_refusal_names_its_entry_and_the_cli_reads_it_back() -> None:
    assert batch_entry_field(3, "measured") == "records.3.measured"
    assert batch_entry_named(batch_entry_field(3, "measured")) == (3, "measured")
    assert batch_entry_named(batch_entry_field(0)) == (0, None)
    assert batch_entry_named("records") is None and batch_entry_named("measured") is None
    for serial in ("P-2", ""):
        message = f"{batch_entry_label(3, serial)}: No print ticket names part P-2."
        assert without_batch_entry_label(message) == "No print ticket names part P-2."
    assert batch_entry_label(3, " P-2 ") == "Record 4 (part P-2)"


def test_line_ranges_and_limits_for_people() -> None:
    assert line_ranges([9, 2, 3, 4, 7, 10]) == "2-4, 7, 9-10"
    assert line_ranges([5]) == "5"
    clean = validate_quality(
        {"characteristic": "Bore", "nominal": "10.00", "tolerance": "0.05", "measured": "10.03",
         "instrument": "CMM"}
    )  # fmt: skip
    assert format_limits(clean) == (
        "measured 10.03 mm, limits 9.95 .. 10.05 mm (nominal 10.00 ±0.05)"
    )
    split = validate_quality(
        {"characteristic": "Wall", "nominal": "2", "tolerance_minus": "0.1",
         "tolerance_plus": "0.25", "measured": "2.3", "unit": "mm", "instrument": "caliper"}
    )  # fmt: skip
    assert format_limits(split) == "measured 2.3 mm, limits 1.9 .. 2.25 mm (nominal 2 -0.1/+0.25)"


def write_csv(folder: Path, text: str, name: str = "measurements.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = (
    "part_serial,characteristic,nominal,tolerance,measured,unit,instrument,occurred_at,evidence\n"
)


def test_a_csv_is_checked_row_by_row_and_every_bad_row_named(tmp_path: Path) -> None:
    (tmp_path / "cmm-001.pdf").write_bytes(b"%PDF-1.7 report")
    path = write_csv(
        tmp_path,
        HEADER
        + "P-001,Bore,10.00,0.05,10.03,mm,CMM,2026-05-01T09:30Z,cmm-001.pdf\n"
        + "\n"  # blank lines are skipped
        + "P-001,Bore,10.00,0.05,ten,mm,CMM,,\n"
        + ",Wall,2,0.1,2.05,mm,CMM,2026-05-01T09:30,missing.jpg\n"
        + "P-002,Bore,10.00,,10.01,mm,CMM,,\n"
        + "P-003,Bore,10.00,0.05\n",
    )
    with pytest.raises(CliError) as caught:
        read_measurements(path, now=NOW)
    error = caught.value
    assert error.message == f"{path} has 4 bad rows; nothing was sent"
    assert error.details == [
        "line 4: measured: Not a number.",
        "line 5: part_serial: This field is required.",
        "line 5: occurred_at: '2026-05-01T09:30' has no UTC offset: give one (e.g. "
        "2026-05-01T09:30:00+02:00 or 2026-05-01T07:30Z)",
        f"line 5: evidence: {tmp_path / 'missing.jpg'} does not exist",
        "line 6: tolerance: Give tolerance (±) or tolerance_minus and tolerance_plus.",
        "line 7: 4 cells, but the header has 9",
    ]


def test_a_csv_header_semicolons_and_an_evidence_folder(tmp_path: Path) -> None:
    # the header must name the columns PrintFair knows
    bad = write_csv(tmp_path, "serial,characteristic,nominal,measured,colour\nX,B,1,1,red\n")
    with pytest.raises(CliError) as caught:
        read_measurements(bad)
    assert "header row" in caught.value.message
    assert caught.value.details == [
        "unknown column(s) 'serial', 'colour': the columns are part_serial, characteristic, "
        "nominal, measured, instrument, tolerance, tolerance_minus, tolerance_plus, unit, "
        "occurred_at, evidence",
        "missing column(s): part_serial, instrument",
        "give a tolerance column, or tolerance_minus and tolerance_plus",
    ]
    with pytest.raises(CliError, match="has no measurements"):
        read_measurements(write_csv(tmp_path, HEADER, "empty.csv"))
    # a spreadsheet's semicolons and byte order mark; split tolerances; files in another folder
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(PNG)
    (photos / "b.png").write_bytes(PNG)
    text = (
        "\ufeffPart_Serial;Characteristic;Nominal;Tolerance_Minus;Tolerance_Plus;Measured;"
        "Instrument;Evidence\n"
        'P-001;Wall;2.00;0.10;0.20;2.15;Caliper;"a.png; b.png"\n'
    )
    path = tmp_path / "semi.csv"
    path.write_bytes(text.encode("utf-8"))
    [row] = read_measurements(path, evidence_dir=photos)
    assert (row.line, row.part_serial, row.occurred_at) == (2, "P-001", None)
    assert row.clean["tolerance_minus"] == "0.10" and row.clean["passed"] is True
    assert row.clean["unit"] == "mm" and "unit" not in row.fields
    assert row.evidence == [photos / "a.png", photos / "b.png"]


def measurement(line: int, measured: str, at: datetime | None = None) -> Measurement:
    fields = {
        "characteristic": "Bore",
        "nominal": "10.00",
        "tolerance": "0.05",
        "measured": measured,
        "instrument": "CMM",
    }
    return Measurement(line, "P-001", fields, validate_quality(fields), at)


def recorded(measured: str, at: datetime, serial: str = "P-001") -> dict[str, Any]:
    data = dict(validate_quality(measurement(0, measured).fields))
    data.pop("passed")
    return {
        "id": f"r-{measured}-{at:%H%M}",
        "kind": "quality",
        "part_serial": serial,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def test_rows_already_recorded_are_matched_once_each() -> None:
    nine, ten = NOW.replace(hour=9), NOW.replace(hour=10)
    rows = [
        measurement(2, "10.03", nine),  # recorded, same time
        measurement(3, "10.030", ten),  # same value written otherwise; another time: not it
        measurement(4, "10.01"),  # no time: any time matches
        measurement(5, "10.01"),  # the same again: only one was recorded
        measurement(6, "10.02"),
    ]
    records = [
        recorded("10.03", nine),
        recorded("10.01", NOW.replace(hour=11)),
        recorded("10.02", nine, serial="P-002"),  # another part
        {"kind": "shipped", "part_serial": "P-001", "data": {}},
    ]
    matched = match_recorded(rows, records)
    assert {line: r["id"] for line, r in matched.items()} == {2: "r-10.03-0900", 4: "r-10.01-1100"}
    # a timed row claims its record before an untimed one can
    rows = [measurement(2, "10.03"), measurement(3, "10.03", nine)]
    assert {line: r["id"] for line, r in match_recorded(rows, records).items()} == {
        3: "r-10.03-0900"
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_csv_progress_is_one_line_on_a_terminal_and_sparse_in_a_log() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def feed(progress: RowProgress) -> None:
        for line in range(2, 42):  # 40 rows, one every 0.25 s
            now[0] += 0.25
            progress.advance(line)
        progress.finish()

    terminal = Terminal()
    feed(RowProgress(terminal, 40, clock=clock))
    shown = terminal.getvalue()
    assert shown.count("\n") == 1 and shown.count("\r\x1b[K") == 41
    assert shown.endswith("\r\x1b[Krecorded 40/40 measurements (line 41)\n")
    log = io.StringIO()
    feed(RowProgress(log, 40, clock=clock))
    assert log.getvalue().splitlines() == [
        "recorded 20/40 measurements (line 21)",
        "recorded 40/40 measurements (line 41)",
    ]
    quiet = Terminal()
    feed(RowProgress(quiet, 40, quiet=True, clock=clock))
    assert quiet.getvalue() == ""


def test_verify_targets(tmp_path: Path) -> None:
    record_id = "0f0e0d0c-0000-4000-8000-000000000001"
    saved = tmp_path / "proof.json"
    saved.write_text("{}")
    assert parse_target(str(saved)) == Target(path=saved)
    assert parse_target(record_id.upper()) == Target(record_id=record_id)
    assert parse_target(f"https://printfair.example/verify/{record_id}/") == Target(
        record_id=record_id, site="https://printfair.example"
    )
    assert parse_target(f"http://127.0.0.1:8000/pf/verify/{record_id}") == Target(
        record_id=record_id, site="http://127.0.0.1:8000/pf"
    )
    for text in ("nothing-here.json", "https://printfair.example/jobs/3/", "12345"):
        with pytest.raises(CliError, match="neither a proof bundle file nor"):
            parse_target(text)


def test_bundles_described_and_their_roots_collected() -> None:
    record = quality_record(nominal="10.00", tolerance_minus="0.05", tolerance_plus="0.05")
    bundle = ProofBundle.parse(bundle_of(record))
    assert describe(bundle) == "quality #3 of part P-001, job 42 (Bore 10.03 mm, PASS)"
    assert anchor_points(bundle) == []
    leaf = record_leaf(record_hash(record))
    other = record_leaf(b"\x01" * 32)
    tree = MerkleTree.build([leaf, other])
    anchored = {
        **bundle_of(record),
        "root": "0x" + tree.root.hex(),
        "proof": ["0x" + node.hex() for node in tree.proof(leaf)],
        "anchor_contract": "0x" + "ab" * 20,
    }
    certificate: dict[str, JsonValue] = {
        "kind": "certificate",
        "id": "c1",
        "job": 42,
        "part_serial": "P-001",
        "records": [{"id": record["id"], "record_hash": "0x" + record_hash(record).hex()}],
    }
    parsed = ProofBundle.parse(
        bundle_json(
            kind="certificate", record_id="c1", record=certificate, anchored_hash=None,
            proof=[], root="0x" + leaf.hex(), batch=2, chain_id=31337,
            anchor_contract="0x" + "ab" * 20, anchor_tx=None, block_number=None,
            included=[anchored, anchored],
        )
    )  # fmt: skip
    assert describe(parsed) == "certificate of conformance for part P-001 of job 42"
    assert [a.root for a in anchor_points(parsed)] == [leaf, tree.root]
    assert parsed.offline_problems() == [
        # the certificate's own leaf is not this root: its proof is empty and wrong
        "certificate c1: the proof does not lead to the batch's root",
    ]


def test_records_summaries_and_the_gate_for_people() -> None:
    quality = {
        "kind": "quality",
        "data": {"characteristic": "Bore", "measured": "10.03", "unit": "mm", "nominal": "10.00",
                 "tolerance_minus": "0.05", "tolerance_plus": "0.05"},
        "evidence": [{"id": "e"}, {"id": "f"}],
    }  # fmt: skip
    assert summary(quality) == "Bore 10.03 mm (10.00 ±0.05) +2 files"
    shipped = {"kind": "shipped", "data": {"carrier": "DHL", "tracking_number": "JD01"}}
    assert summary(shipped) == "carrier DHL, tracking JD01"
    finished = {
        "kind": "print_finished",
        "data": {"machine": "M1", "material_lot": "L7", "outcome": "failed", "note": "warped"},
    }
    assert summary(finished) == "machine M1, lot L7, failed, “warped”"
    assert summary({"kind": "packed", "data": {}}) == "-"
    gate = {
        "required": ["Bore", "Wall"],
        "needed": 2,
        "passing": 1,
        "met": False,
        "parts": [
            {"part_serial": "P-001", "passes": True, "problems": {}},
            {"part_serial": "P-002", "passes": False,
             "problems": {"Bore": "failed (10.08 mm)", "Wall": "not measured"}},
        ],
    }  # fmt: skip
    assert gate_lines(gate) == [
        "Quality gate not met: 1 of the 2 parts needed have a passing, anchored and final "
        "record of Bore, Wall.",
        "  part P-002  Bore: failed (10.08 mm); Wall: not measured",
    ]
    assert gate_lines(gate, serial="P-001") == gate_lines(gate)[:1]
    assert gate_lines({**gate, "met": True, "passing": 2}) == [
        "Quality gate met: 2 of the 2 parts needed pass Bore, Wall.",
        "  part P-002  Bore: failed (10.08 mm); Wall: not measured",
    ]
    assert gate_lines({"required": []}) == [
        "Quality gate: none (the job requires no measured characteristics)."
    ]


def test_verify_without_a_server_or_a_chain(home: Path, run: Run, tmp_path: Path) -> None:
    # a bundle not anchored yet fails before any node is asked (the node here is nowhere)
    nowhere = f"http://127.0.0.1:{free_port()}"
    record = quality_record()
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(bundle_of(record)))
    status, out, err = run("verify", str(path), "--rpc", nowhere)
    assert (status, out) == (3, "")
    assert "quality #3 of part P-001, job 42 (Bore 10.03 mm, PASS) is NOT verified" in err
    assert f"part_record {record['id']}: not anchored yet (waiting for a batch)" in err
    status, out, _ = run("verify", str(path), "--rpc", nowhere, "--json")
    assert status == 3 and json.loads(out)["verified"] is False
    # a record changed after it was hashed
    changed = bundle_of(record)
    changed["record"]["data"]["measured"] = "10.00"
    path.write_text(json.dumps(changed))
    status, _, err = run("verify", str(path), "--rpc", nowhere)
    assert status == 3 and "the record does not match its hash (it was changed)" in err
    # not a bundle, not JSON, no node, a bad --anchor, a bad target
    path.write_text('{"format": "something/else"}')
    status, _, err = run("verify", str(path), "--rpc", nowhere)
    assert status == 1 and "is not a proof bundle this version can read" in err
    path.write_text("not json")
    assert run("verify", str(path), "--rpc", nowhere)[0] == 1
    status, _, err = run("verify", str(path))
    assert status == 2 and "give --rpc URL" in err
    status, _, err = run("verify", str(path), "--rpc", nowhere, "--anchor", "0x1234")
    assert status == 2 and "--anchor '0x1234' is not an Ethereum address" in err
    assert run("verify", "no-such-file", "--rpc", nowhere)[0] == 2
    assert run("verify")[0] == 2


def test_report_usage_errors_are_caught_before_anything_is_sent(
    home: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no server at all: every one of these fails before the first request
    monkeypatch.setenv("PRINTFAIR_API", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("PRINTFAIR_API_KEY", "pf_0a1b_secret")
    status, _, err = run("report", "event", "7", "P-1", "packed", "--machine", "M1")
    assert status == 2
    assert "--machine does not apply to a packed event: it takes --package, --note" in err
    status, _, err = run("report", "event", "7", "P-1", "print_finished", "--machine", "M1")
    assert status == 2 and "the print_finished event is not complete" in err
    assert "--material-lot: This field is required." in err
    assert "--outcome: This field is required." in err
    status, _, err = run(
        "report", "event", "7", "P-1", "inspection", "--outcome", "ok", "--at", "2026-05-01"
    )
    assert status == 2 and "has no UTC offset" in err
    status, _, err = run("report", "event", "7", "P-1", "inspection", "--outcome", "ok")
    assert status == 2 and "--outcome: One of: passed, failed." in err
    assert run("report", "event", "7", "P-1", "painted")[0] == 2
    status, _, err = run(
        "report", "event", "7", "P-1", "packed", "--evidence", str(tmp_path / "none.png")
    )
    assert status == 2 and "none.png does not exist" in err
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        handle.truncate(20 * 1024 * 1024 + 1)
    status, _, err = run("report", "event", "7", "P-1", "packed", "--evidence", str(big))
    assert status == 2 and "is larger than 20 MiB" in err
    quality = ["report", "quality", "7", "P-1", "--characteristic", "Bore", "--nominal", "10"]
    status, _, err = run(*quality, "--measured", "x", "--instrument", "CMM")
    assert status == 2 and "--measured: Not a number." in err
    assert "--tolerance: Give tolerance (±)" in err
    status, _, err = run(
        *quality, "--measured", "10", "--instrument", "CMM", "--tolerance", "0.1",
        "--tolerance-minus", "0.1",
    )  # fmt: skip
    assert status == 2 and "not both" in err
    status, _, err = run(*quality, "--measured", "10", "--instrument", "CMM", "--tolerance", "-0.1")
    assert status == 2 and "--tolerance: Give the amount below or above nominal" in err
    assert run(*quality, "--measured", "10")[0] == 2  # no instrument
    status, _, err = run("report", "csv", "7", str(tmp_path / "none.csv"))
    assert status == 2 and "none.csv does not exist" in err


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture
def floor(
    released: Released,
    market: dict[str, Any],
    live_server: Any,
    winning_shop: User,
    home: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The winning shop's production floor at the CLI: a funded order, a key with only the
    production:write scope, and print tickets for the parts in SERIALS."""
    job = released[0]
    _, token = api_key_create(
        actor=winning_shop, name="floor", expires_at=None, scopes=["production:write"]
    )
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)
    monkeypatch.setenv("PRINTFAIR_API_KEY", token)
    for serial in SERIALS:
        status, _, err = run("print-ticket", str(job.pk), "--machine", MACHINE, "--serial", serial)
        assert status == 0, err
    return {
        "job": job,
        "rpc": market["url"],
        "server": live_server.url,
        "shop_api": released[2],
    }


def anchor_all() -> None:
    """Seal every waiting record into a batch, send it and wait for it to be final."""
    anchor_batch_seal(force=True)
    settle()
    settle()


def test_report_events_with_evidence_and_list_them(
    floor: dict[str, Any], run: Run, tmp_path: Path
) -> None:
    job = floor["job"]
    jid = str(job.pk)
    photo = tmp_path / "build-plate.png"
    photo.write_bytes(PNG)
    # a part with no print ticket is refused by PrintFair, saying what to do
    status, _, err = run("report", "event", jid, "X-9", "packed")
    assert status == 1 and "No print ticket names part X-9" in err and "print-ticket" in err
    # when
    status, out, err = run(
        "report", "event", jid, "P-001", "print_started", "--machine", MACHINE,
        "--material-lot", "Ti64-2291", "--evidence", str(photo),
    )  # fmt: skip
    # then
    assert status == 0, err
    started = PartRecord.objects.get(order__job=job, part_serial="P-001", seq=1)
    assert out == (
        f"Recorded print_started #1 for part P-001 of job {job.pk} (record {started.pk}): "
        "anchoring waiting.\n"
    )
    assert started.data == {"machine": MACHINE, "material_lot": "Ti64-2291"}
    [evidence] = started.evidence.all()
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest() and evidence.name == photo.name
    # a time given with its offset is kept; --json prints the record
    at = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    status, out, err = run(
        "report", "event", jid, "P-001", "print_finished", "--machine", MACHINE,
        "--material-lot", "Ti64-2291", "--outcome", "completed", "--note", "no warping",
        "--at", at.astimezone().isoformat(), "--json",
    )  # fmt: skip
    assert status == 0, err
    finished = json.loads(out)
    assert finished["seq"] == 2 and finished["kind"] == "print_finished"
    assert datetime.fromisoformat(finished["occurred_at"]) == at
    assert finished["data"]["note"] == "no warping" and finished["anchor"]["state"] == "waiting"
    # PrintFair's own refusals come through, field by field
    status, _, err = run(
        "report", "event", jid, "P-002", "print_finished", "--machine", MACHINE,
        "--material-lot", "L", "--outcome", "failed",
    )  # fmt: skip
    assert status == 1 and "Part P-002 has no print_started event" in err
    # shipped, then the listing
    status, _, err = run(
        "report", "event", jid, "P-001", "shipped", "--carrier", "DHL",
        "--tracking-number", "JD0142",
    )  # fmt: skip
    assert status == 0, err
    status, out, err = run("records", jid)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["part", "#", "kind", "when", "summary", "result", "anchoring"]
    assert "machine EOS M 290 #2, lot Ti64-2291 +1 file" in lines[1]
    assert lines[1].split()[:3] == ["P-001", "1", "print_started"]
    assert lines[1].endswith("waiting")
    assert "carrier DHL, tracking JD0142" in lines[3]
    assert lines[-1] == "Quality gate: none (the job requires no measured characteristics)."
    # after anchoring, every record is final
    anchor_all()
    listed = json.loads(run("records", jid, "--json")[1])
    assert [r["seq"] for r in listed["records"]] == [1, 2, 3]
    assert {r["anchor"]["state"] for r in listed["records"]} == {"final"}
    assert listed["quality_gate"]["met"] is True
    assert run("records", jid, "--serial", "P-003")[1].startswith(
        f"No records for part P-003 of job {job.pk} yet.\n"
    )


def test_report_quality_pass_and_fail_and_the_gate(
    floor: dict[str, Any], run: Run, tmp_path: Path
) -> None:
    job = floor["job"]
    jid = str(job.pk)
    Job.objects.filter(pk=job.pk).update(required_characteristics=["Bore diameter"], quantity=2)
    bore = ["--characteristic", "Bore diameter", "--nominal", "10.00", "--instrument", "CMM"]
    # when: within the tolerance, both ends included
    status, out, err = run(
        "report", "quality", jid, "P-001", *bore, "--tolerance", "0.05", "--measured", "10.05"
    )
    assert status == 0, err
    passing = PartRecord.objects.get(order__job=job, part_serial="P-001", kind="quality")
    assert out.splitlines() == [
        f"Recorded quality #1 for part P-001 of job {job.pk} (record {passing.pk}): "
        "anchoring waiting.",
        "PASS: Bore diameter measured 10.05 mm, limits 9.95 .. 10.05 mm (nominal 10.00 ±0.05).",
    ]
    assert passing.passed is True and passing.data["measured"] == "10.05"
    # outside a split tolerance, with a report attached
    report = tmp_path / "cmm.pdf"
    report.write_bytes(b"%PDF-1.7\nCMM report\n")
    status, out, err = run(
        "report", "quality", jid, "P-002", *bore, "--tolerance-minus", "0.02",
        "--tolerance-plus", "0.05", "--measured", "9.970", "--evidence", str(report),
    )  # fmt: skip
    assert status == 0, err
    assert out.splitlines()[1] == (
        "FAIL: Bore diameter measured 9.970 mm, limits 9.98 .. 10.05 mm (nominal 10.00 "
        "-0.02/+0.05)."
    )
    failing = PartRecord.objects.get(order__job=job, part_serial="P-002", kind="quality")
    assert failing.passed is False
    assert [e.sha256 for e in failing.evidence.all()] == [
        hashlib.sha256(report.read_bytes()).hexdigest()
    ]
    # the listing shows PASS and FAIL, and the gate says what is missing
    status, out, _ = run("records", jid)
    lines = out.splitlines()
    assert "Bore diameter 10.05 mm (10.00 ±0.05)" in lines[1] and " PASS " in lines[1]
    assert "Bore diameter 9.970 mm (10.00 -0.02/+0.05) +1 file" in lines[2]
    assert " FAIL " in lines[2]
    assert lines[4].startswith("Quality gate not met: 0 of the 2 parts needed")
    assert "  part P-001  Bore diameter: passed, anchoring not final yet" in lines
    assert "  part P-002  Bore diameter: failed (9.970 mm)" in lines
    assert "  part P-003  Bore diameter: not measured" in lines
    anchor_all()
    status, out, _ = run("records", jid, "--serial", "P-001")
    assert "Quality gate not met: 1 of the 2 parts needed" in out
    assert "part P-001" not in out.split("Quality gate")[1] and "part P-002" not in out


def test_report_csv_checks_everything_first_then_skips_what_is_recorded(
    floor: dict[str, Any], run: Run, tmp_path: Path
) -> None:
    job = floor["job"]
    jid = str(job.pk)
    at = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0).isoformat()
    (tmp_path / "cmm-1.pdf").write_bytes(b"%PDF-1.7 part 1")
    (tmp_path / "plate.png").write_bytes(PNG)
    rows = [
        f"P-001,Bore,10.00,0.05,10.03,mm,CMM,{at},cmm-1.pdf;plate.png",
        "P-001,Wall,2.00,0.10,2.20,mm,Caliper,,plate.png",
        f"P-002,Bore,10.00,0.05,10.01,mm,CMM,{at},",
        "P-003,Bore,10.00,0.05,9.99,mm,CMM,,",
    ]
    # a bad row: nothing is sent, and every problem is named
    path = write_csv(tmp_path, HEADER + "\n".join([*rows[:2], "P-002,Bore,10,0.05,,mm,CMM,,"]))
    status, out, err = run("report", "csv", jid, str(path))
    assert (status, out) == (1, "")
    assert "has 1 bad row; nothing was sent" in err and "line 4: measured: " in err
    # a part without a ticket: refused before anything is sent, too
    path = write_csv(tmp_path, HEADER + rows[0] + "\nQ-1,Bore,10,0.05,10,mm,CMM,,\n")
    status, _, err = run("report", "csv", jid, str(path))
    assert status == 1 and "line 3: part_serial: no print ticket names part Q-1" in err
    assert not PartRecord.objects.filter(order__job=job).exists()
    assert not EvidenceFile.objects.filter(order__job=job).exists()
    # PrintFair refuses row 3's evidence (not a photo, PDF or text): rows before it are kept
    (tmp_path / "scan.bin").write_bytes(b"\x00\x01\x02binary")
    path = write_csv(tmp_path, HEADER + "\n".join([*rows[:2], rows[2] + "scan.bin", rows[3]]))
    status, out, err = run("report", "csv", jid, str(path))
    assert (status, out) == (1, "")
    assert "line 4 was refused: Evidence must be a JPEG, PNG or WebP photo" in err
    assert "Recorded before it: line 2-3 (2 rows)." in err
    assert "Run the same command again once fixed" in err
    assert "recorded 2/4 measurements (line 3)" in err  # progress, plain in a log
    assert PartRecord.objects.filter(order__job=job).count() == 2
    # each evidence file went up once, though two rows cite plate.png
    assert EvidenceFile.objects.filter(order__job=job).count() == 2
    # when: run again, fixed
    path = write_csv(tmp_path, HEADER + "\n".join(rows))
    status, out, err = run("report", "csv", jid, str(path), "--quiet")
    # then: only the rows not recorded yet
    assert status == 0, err
    assert err == ""
    assert out.splitlines() == [
        f"Recorded 2 quality measurements for job {job.pk} from {path}: 2 PASS, 0 FAIL; "
        "anchoring 2 waiting.",
        "Skipped 2 rows already recorded: line 2-3.",
    ]
    records = PartRecord.objects.filter(order__job=job, kind="quality")
    assert records.count() == 4
    wall = records.get(characteristic="Wall")
    assert wall.passed is False and wall.data["measured"] == "2.20"
    first = records.get(part_serial="P-001", characteristic="Bore")
    assert sorted(e.name for e in first.evidence.all()) == ["cmm-1.pdf", "plate.png"]
    assert first.occurred_at == datetime.fromisoformat(at)
    # and again: nothing to send
    status, out, _ = run("report", "csv", jid, str(path))
    assert status == 0
    assert out == f"Nothing to send: all 4 rows of {path} are already recorded (line 2-5).\n"
    assert records.count() == 4
    # --json: what was recorded and what was skipped, by line
    extra = write_csv(tmp_path, HEADER + "\n".join([*rows, rows[3]]), "more.csv")
    status, out, _ = run("report", "csv", jid, str(extra), "--json", "--quiet")
    sent = json.loads(out)
    assert status == 0 and [item["line"] for item in sent["recorded"]] == [6]
    assert [item["line"] for item in sent["skipped"]] == [2, 3, 4, 5]
    assert sent["recorded"][0]["record"]["part_serial"] == "P-003"


def test_report_csv_goes_up_in_batches_and_stops_at_the_first_row_refused(
    floor: dict[str, Any], run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = floor["job"]
    monkeypatch.setattr(report_command, "CSV_BATCH", 2)
    rows = [f"{serial},Bore,10.00,0.05,10.0{n},mm,CMM,," for n, serial in enumerate(SERIALS)]
    # PrintFair refuses line 5 (a time before the award), which only it can know
    early = "P-002,Wall,2.00,0.10,2.02,mm,Caliper,2020-01-01T00:00Z,"
    path = write_csv(tmp_path, HEADER + "\n".join([*rows, early, rows[0]]))
    status, out, err = run("report", "csv", str(job.pk), str(path), "--quiet")
    # then: the batches before it and the row before it in its batch are recorded
    assert (status, out) == (1, "")
    assert "line 5 was refused: This is before the job was awarded." in err
    assert "occurred_at: This is before the job was awarded." in err
    assert "Recorded before it: line 2-4 (3 rows)." in err
    records = PartRecord.objects.filter(order__job=job, kind="quality")
    assert records.count() == 3
    # fixed, the same command sends the rest
    just_now = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    fixed = early.replace("2020-01-01T00:00Z", just_now)
    path = write_csv(tmp_path, HEADER + "\n".join([*rows, fixed, rows[0]]))
    status, out, err = run("report", "csv", str(job.pk), str(path), "--quiet")
    assert status == 0, err
    assert out.splitlines()[-1] == "Skipped 3 rows already recorded: line 2-4."
    assert records.count() == 5
    assert [r.seq for r in records.filter(part_serial="P-001").order_by("seq")] == [1, 2]


def test_report_csv_waits_when_the_api_key_is_over_its_rate(
    floor: dict[str, Any], run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = floor["job"]
    # one request a second: the run (tickets, records, the batch) outruns it
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1/s"})
    rows = [f"{serial},Bore,10.00,0.05,10.0{n},mm,CMM,," for n, serial in enumerate(SERIALS * 2)]
    path = write_csv(tmp_path, HEADER + "\n".join(rows))
    status, out, err = run("report", "csv", str(job.pk), str(path), "--quiet")
    # PrintFair answered 429 with a Retry-After; the CLI waited it out and went on
    assert status == 0, err
    assert "printfair: PrintFair asks to slow down (this API key's rate): waiting 1 s" in err
    assert out.startswith(f"Recorded 6 quality measurements for job {job.pk}")
    assert PartRecord.objects.filter(order__job=job, kind="quality").count() == 6


def test_anyone_verifies_a_record_against_the_chain(
    floor: dict[str, Any],
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    job, rpc = floor["job"], floor["rpc"]
    jid = str(job.pk)
    bore = ["--characteristic", "Bore", "--nominal", "10.00", "--tolerance", "0.05"]
    status, out, err = run(
        "report", "quality", jid, "P-001", *bore, "--measured", "10.02", "--instrument", "CMM",
        "--json",
    )  # fmt: skip
    assert status == 0, err
    record = json.loads(out)
    record_id = record["id"]
    # nobody's key from here on
    monkeypatch.delenv("PRINTFAIR_API_KEY")
    # not anchored yet: not verified (exit status 3)
    status, _, err = run("verify", record_id, "--rpc", rpc)
    assert status == 3 and "not anchored yet (waiting for a batch)" in err
    anchor_all()
    anchor = contract(web3_client(), "RecordAnchor")
    leaf = PartRecord.objects.get(pk=record_id)
    # when: by id, through the anvil node
    status, out, err = run("verify", record_id, "--rpc", rpc)
    # then
    assert status == 0, err
    bundle = Client().get(reverse("verify_proof", args=[record_id])).json()
    root = bundle["root"]
    timestamp = anchor.functions.anchoredAt(bytes.fromhex(root[2:])).call()
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    assert out.splitlines()[0] == (
        f"VERIFIED: quality #1 of part P-001, job {job.pk} (Bore 10.02 mm, PASS) "
        f"(part_record {record_id})"
    )
    assert f"  record hash  {bundle['record_hash']} (recomputed from the record)" in out
    assert (
        f"  root {root} anchored at {when:%Y-%m-%d %H:%M:%S} UTC on chain {settings.CHAIN_ID} "
        f"by contract {anchor.address}"
    ) in out
    # by the URL of its public page (from a certificate's QR code): fetched from that site
    monkeypatch.delenv("PRINTFAIR_API")
    status, out, err = run("verify", record["verify_url"], "--rpc", rpc, "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["verified"] is True and result["problems"] == []
    assert result["source"] == f"{floor['server']}/verify/{record_id}/proof.json"
    assert result["anchors"] == [
        {"root": root, "contract": anchor.address, "anchored": True,
         "anchored_at": when.isoformat(), "timestamp": timestamp}
    ]  # fmt: skip
    assert result["chain_id"] == settings.CHAIN_ID and result["part_serial"] == "P-001"
    # a saved bundle checks with no PrintFair at all
    monkeypatch.setenv("PRINTFAIR_API", f"http://127.0.0.1:{free_port()}")
    saved = tmp_path / "proof.json"
    saved.write_text(json.dumps(bundle))
    status, out, err = run("verify", str(saved), "--rpc", rpc)
    assert status == 0, err and out.startswith("VERIFIED: ")
    # ... but not against a node of another chain than the bundle names
    saved.write_text(json.dumps({**bundle, "chain_id": 1}))
    status, _, err = run("verify", str(saved), "--rpc", rpc)
    assert status == 1
    assert f"is on chain {settings.CHAIN_ID}, but {saved} was anchored on chain 1" in err
    # a root the chain does not hold
    fake = {**quality_record(), "id": "1d9b0c5e-0000-4000-8000-00000000000f"}
    fake_root = "0x" + record_leaf(record_hash(fake)).hex()
    saved.write_text(
        json.dumps({**bundle_of(fake), "root": fake_root, "anchor_contract": anchor.address})
    )
    status, _, err = run("verify", str(saved), "--rpc", rpc)
    assert status == 3
    assert (
        f"root {fake_root} is not anchored on chain {settings.CHAIN_ID} at {anchor.address}" in err
    )
    # a wrong --anchor: another contract, no contract at all
    saved.write_text(json.dumps(bundle))
    house = contract(web3_client(), "AuctionHouse").address
    status, _, err = run("verify", str(saved), "--rpc", rpc, "--anchor", house)
    assert status == 3 and f"{house} on chain {settings.CHAIN_ID} is not a RecordAnchor" in err
    nobody = "0x" + "00" * 19 + "42"
    status, out, err = run("verify", str(saved), "--rpc", rpc, "--anchor", nobody, "--json")
    assert status == 3
    assert f"there is no contract at 0x{'00' * 19}42 on chain {settings.CHAIN_ID}" in err
    assert json.loads(out)["verified"] is False
    # the record changed in PrintFair's database after it was anchored
    monkeypatch.setenv("PRINTFAIR_API", floor["server"])
    changed = {**leaf.data, "measured": "10.00"}
    PartRecord.objects.filter(pk=record_id).update(data=changed)
    status, out, err = run("verify", record_id, "--rpc", rpc)
    assert (status, out) == (3, "")
    assert f"part_record {record_id}: the record does not match its hash (it was changed)" in err
    # an id PrintFair does not know
    unknown = "0f0e0d0c-0000-4000-8000-0000000000ff"
    status, _, err = run("verify", unknown, "--rpc", rpc)
    assert status == 3 and f"has no record or certificate {unknown}" in err


def test_anyone_verifies_a_certificate_of_conformance(
    floor: dict[str, Any],
    run: Run,
    customer: User,
    login: Callable[[User | None], Client],
    settings: Any,
) -> None:
    job, rpc = floor["job"], floor["rpc"]
    jid = str(job.pk)
    for kind, options in (
        ("print_started", ["--machine", MACHINE, "--material-lot", "Ti64-2291"]),
        ("print_finished", ["--machine", MACHINE, "--material-lot", "Ti64-2291",
                            "--outcome", "completed"]),
        ("shipped", ["--carrier", "DHL", "--tracking-number", "JD0142"]),
    ):  # fmt: skip
        status, _, err = run("report", "event", jid, "P-001", kind, *options)
        assert status == 0, err
    status, _, err = run(
        "report", "quality", jid, "P-001", "--characteristic", "Bore", "--nominal", "10",
        "--tolerance", "0.05", "--measured", "10.01", "--instrument", "CMM",
    )  # fmt: skip
    assert status == 0, err
    anchor_all()
    # delivered and accepted: the escrow is released and the part gets its certificate
    delivered(job, floor["shop_api"])
    assert "Accepted" in post(login(customer), "order_accept", job)
    settle()
    certificate = Certificate.objects.get(order__job=job, part_serial="P-001")
    anchor_all()
    # when
    status, out, err = run("verify", str(certificate.pk), "--rpc", rpc)
    # then
    assert status == 0, err
    anchor = contract(web3_client(), "RecordAnchor")
    assert out.splitlines()[0] == (
        f"VERIFIED: certificate of conformance for part P-001 of job {job.pk} "
        f"(certificate {certificate.pk}): 4 records, all anchored"
    )
    assert f"on chain {settings.CHAIN_ID} by contract {anchor.address}" in out
    # a record of the part changed since: the certificate no longer verifies
    shipped = PartRecord.objects.get(order__job=job, kind="shipped")
    PartRecord.objects.filter(pk=shipped.pk).update(data={**shipped.data, "carrier": "UPS"})
    status, _, err = run("verify", str(certificate.pk), "--rpc", rpc)
    assert status == 3
    assert f"part_record {shipped.pk}: the record does not match its hash" in err
