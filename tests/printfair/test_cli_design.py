"""`printfair design get`, `print-ticket` and `tickets` end to end: the CLI's own keys registered
through the live server, a real auction won and funded on anvil so that the design is released
to the CLI's key, then the download, resume, decryption and chain check, and print tickets up to
the licence (DESIGN.md section 3 step 8)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from ledger.chain import web3_client
from ledger.contracts import contract
from marketplace.models import DesignFile, User
from marketplace.services import design_registration_enqueue
from marketplace.uploads import kek_for_version
from printfair.cli.download import Progress
from printfair.envelope import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    StreamEncryptor,
    unwrap_data_key,
)
from printfair.hpke import wrapped_size
from printfair.keys import HpkeKem
from printshops.models import DesignRelease, Licence, PrintShopProfile, PrintTicket
from printshops.services import api_key_create
from tests.printfair.cli_faults import faulty_proxy
from tests.scenarios import (
    NOT_FOR_DESIGN_GET,
    PASSPHRASE,
    Run,
    drain,
    funded,
    loaded_libraries,
    settle,
    win_with_the_cli,
)

NAME = "star_binary.stl"
MiB = 1 << 20
SEALED = SEGMENT_SIZE + TAG_SIZE


@pytest.fixture
def won(
    shop_cli: dict[str, Any],
    customer: User,
    login: Callable[[User | None], Client],
    run: Run,
    testdata: Path,
) -> dict[str, Any]:
    """The CLI's shop bid, revealed and won the first job, and the customer funded it: the
    design is released to the HPKE key the CLI made."""
    market = shop_cli
    job = market["jobs"][0]
    win_with_the_cli(market, run, job)
    funded(job, login(customer))
    settle()
    design_file = DesignFile.objects.get(job=job)
    assert DesignRelease.objects.filter(design_file=design_file).exists()
    return {
        **market,
        "job": job,
        "file": design_file,
        "plaintext": (testdata / "stl" / NAME).read_bytes(),
        "ciphertext_path": f"/api/v1/releases/{design_file.pk}/ciphertext/",
    }


def get(run: Run, won: dict[str, Any], folder: Path, *extra: str) -> tuple[int, str, str]:
    return run("design", "get", str(won["job"].pk), "-o", str(folder), "--rpc", won["url"], *extra)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_design_get_saves_the_decrypted_design_checked_against_the_chain(
    won: dict[str, Any],
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    job, out = won["job"], tmp_path / "designs"
    sha256 = hashlib.sha256(won["plaintext"]).hexdigest()
    licence = Licence.objects.get(order__job=job)
    # a wrong passphrase opens nothing, before anything is fetched
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", "not the passphrase")
    status, _, err = get(run, won, out)
    assert status == 1 and "wrong passphrase for the keys in" in err
    assert names(out) == []
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", PASSPHRASE)
    # when
    status, text, err = get(run, won, out)
    # then: the designer's bytes, private to the shop, and no partial file left
    assert status == 0, err
    saved = out / NAME
    assert saved.read_bytes() == won["plaintext"]
    assert names(out) == [NAME]
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    # the summary names the size, the hash and the registration read from the chain itself
    registry = contract(web3_client(), "DesignRegistry")
    _, timestamp = registry.functions.registration(bytes.fromhex(sha256)).call()
    registered_at = datetime.fromtimestamp(timestamp, tz=UTC)
    size = len(won["plaintext"])
    assert f"Saved {saved}: 3.4 KiB ({size:,} bytes), decrypted and intact." in text
    assert f"SHA-256     {sha256}" in text
    assert f"Registered  on chain {settings.CHAIN_ID} {registered_at:%Y-%m-%d %H:%M:%S} UTC" in text
    assert f"{licence.prints_allowed} prints allowed, 0 taken" in text
    assert f"printfair print-ticket {job.pk} --machine" in text
    # progress on stderr, as plain lines when it is not a terminal
    assert f"{NAME}  " in err and "100.0%" in err and "MiB/s" in err
    # never replaces a file without --force, and fetches nothing then
    saved.write_bytes(b"the shop's own notes")
    status, _, err = get(run, won, out)
    assert status == 1 and f"{saved} already exists: use --force to replace it" in err
    assert saved.read_bytes() == b"the shop's own notes"
    # with --force; --json for programs; without --rpc, the node PrintFair names
    settings.CHAIN_PUBLIC_RPC_URL = won["url"]
    status, text, err = run("design", "get", str(job.pk), "-o", str(out), "--force", "--json")
    assert status == 0, err
    (item,) = json.loads(text)
    assert item["sha256"] == sha256 and item["size_bytes"] == size
    assert item["registered_at"] == registered_at.isoformat()
    assert item["registry"] == registry.address and item["chain_id"] == settings.CHAIN_ID
    assert saved.read_bytes() == won["plaintext"]
    # --quiet: nothing at all when all is well
    assert get(run, won, out, "--force", "--quiet") == (0, "", "")
    # in a process of its own, as a shop runs it: it loads what it uses and nothing else (the
    # Ethereum libraries would cost it more memory than the download)
    saved.unlink()
    loaded = loaded_libraries("design", "get", str(job.pk), "-o", str(out), "--quiet")
    assert loaded.isdisjoint(NOT_FOR_DESIGN_GET)
    assert {"requests", "cryptography"} <= loaded
    assert saved.read_bytes() == won["plaintext"]


@pytest.mark.parametrize("hpke_kem", [HpkeKem.MLKEM768_X25519.value])
def test_a_shop_with_a_hybrid_key_gets_its_designs(
    won: dict[str, Any], winning_shop: User, home: Path, run: Run, tmp_path: Path
) -> None:
    # given: the shop made (`keys init --kem mlkem768-x25519`) and registered a hybrid key, and
    # the design was released to it
    keys = json.loads((home / "keys.json").read_text())
    assert (keys["version"], keys["hpke"]["kem"]) == (2, HpkeKem.MLKEM768_X25519)
    profile = PrintShopProfile.objects.get(organization=winning_shop.organization)
    assert profile.hpke_kem == HpkeKem.MLKEM768_X25519
    assert (
        base64.b64encode(bytes(profile.hpke_public_key or b"")).decode()
        == (keys["hpke"]["public_key"])
    )
    release = DesignRelease.objects.get(design_file=won["file"])
    assert release.hpke_kem == HpkeKem.MLKEM768_X25519
    assert len(bytes(release.wrapped_key)) == wrapped_size(HpkeKem.MLKEM768_X25519)
    # when
    out = tmp_path / "designs"
    status, text, err = get(run, won, out)
    # then: unwrapped with the hybrid key, decrypted and checked
    assert status == 0, err
    assert (out / NAME).read_bytes() == won["plaintext"]
    assert names(out) == [NAME] and "decrypted and intact" in text


@pytest.fixture
def won_big(won: dict[str, Any], customer: User) -> dict[str, Any]:
    """`won`, its design replaced by one of three segments (2 MiB and a bit), encrypted under
    the same data key and file id and registered on chain, as an upload of it would have been."""
    design_file = won["file"]
    plaintext = os.urandom(2 * MiB + 1000)
    sha256 = hashlib.sha256(plaintext).hexdigest()
    data_key = unwrap_data_key(
        kek_for_version(design_file.kek_version),
        bytes(design_file.wrapped_key),
        file_id=design_file.pk.bytes,
        kek_version=design_file.kek_version,
    )
    encryptor = StreamEncryptor(data_key, design_file.pk.bytes)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    default_storage.delete(design_file.blob)
    assert default_storage.save(design_file.blob, ContentFile(ciphertext)) == design_file.blob
    assert customer.organization is not None
    DesignFile.objects.filter(pk=design_file.pk).update(
        sha256=sha256,
        size_bytes=len(plaintext),
        registration=design_registration_enqueue(sha256=sha256, organization=customer.organization),
    )
    drain()
    return {**won, "plaintext": plaintext, "ciphertext": ciphertext}


def test_a_broken_download_resumes_with_a_range_request(
    won_big: dict[str, Any],
    live_server: Any,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    won, out, path = won_big, tmp_path / "designs", won_big["ciphertext_path"]
    total = len(won["ciphertext"])
    cut = HEADER_SIZE + SEALED + SEALED // 2  # half way through the second segment
    with faulty_proxy(live_server.url) as (url, faults):
        monkeypatch.setenv("PRINTFAIR_API", url)
        faults.plan("GET", path, cut)
        # when: the connection drops half way through the second segment
        status, _, err = get(run, won, out)
        # then: the plaintext of the first segment, verified, is kept, private, with what a
        # resume needs beside it; the ciphertext is not written to disk at all
        assert status == 1
        assert "the download broke after" in err and "run the same command to resume" in err
        part = out / f".{NAME}.part"
        assert names(out) == [f".{NAME}.part", f".{NAME}.part.resume"]
        assert part.read_bytes() == won["plaintext"][:MiB]
        assert stat.S_IMODE(part.stat().st_mode) == 0o600
        resume = json.loads((out / f".{NAME}.part.resume").read_text())
        assert resume["header"] == won["ciphertext"][:HEADER_SIZE].hex()
        # when: run again
        status, _, err = get(run, won, out)
    # then: only the segments after the first were asked for, of the same file, and the
    # design is whole
    assert status == 0, err
    first, second = faults.requests_to("GET", path)
    assert "Range" not in first.asked and (first.status, first.sent) == (200, cut)
    assert second.asked["Range"] == f"bytes={HEADER_SIZE + SEALED}-"
    assert second.asked["If-Range"] == first.answer["ETag"]
    assert (second.status, second.sent) == (206, total - HEADER_SIZE - SEALED)
    assert f"{NAME}: resuming at " in err
    assert (out / NAME).read_bytes() == won["plaintext"]
    assert names(out) == [NAME]


def test_a_plaintext_part_altered_between_runs_is_never_kept(
    won_big: dict[str, Any],
    live_server: Any,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    won, out, path = won_big, tmp_path / "designs", won_big["ciphertext_path"]
    total = len(won["ciphertext"])
    with faulty_proxy(live_server.url) as (url, faults):
        monkeypatch.setenv("PRINTFAIR_API", url)
        faults.plan("GET", path, total - 100)  # two segments received, the final one cut
        assert get(run, won, out)[0] == 1
        # given: a byte of the plaintext part changed while no run was looking
        part = out / f".{NAME}.part"
        data = bytearray(part.read_bytes())
        assert len(data) == 2 * MiB
        data[MiB + 7] ^= 0x01
        part.write_bytes(bytes(data))
        # when: the download resumes (the final segment only)
        status, _, err = get(run, won, out)
        # then: the part is hashed again from disk, so the file fails the registered hash
        assert status == 3, err
        final_segment = HEADER_SIZE + 2 * SEALED
        assert faults.requests_to("GET", path)[1].asked["Range"] == f"bytes={final_segment}-"
        assert f"{NAME} decrypted to a file whose SHA-256 is " in err and "not kept" in err
        assert names(out) == []
        # and the next run downloads it afresh
        status, _, err = get(run, won, out)
    assert status == 0, err
    assert "Range" not in faults.requests_to("GET", path)[2].asked
    assert (out / NAME).read_bytes() == won["plaintext"]


def test_a_tampered_or_unregistered_design_is_never_kept(
    won: dict[str, Any],
    live_server: Any,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, path = tmp_path / "designs", won["ciphertext_path"]
    total = default_storage.size(won["file"].blob)
    with faulty_proxy(live_server.url) as (url, faults):
        monkeypatch.setenv("PRINTFAIR_API", url)
        faults.plan("GET", path, total - 100)
        assert get(run, won, out)[0] == 1
        # given: a bit flipped in the header saved for the resume (the nonce prefix)
        saved = out / f".{NAME}.part.resume"
        resume = json.loads(saved.read_text())
        header = bytearray.fromhex(resume["header"])
        header[-1] ^= 0x01
        saved.write_text(json.dumps({**resume, "header": header.hex()}))
        # when
        status, _, err = get(run, won, out)
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)
    # then: the envelope check fails, and nothing of the file is kept
    assert status == 1
    assert f"{NAME} failed the envelope check" in err and "failed authentication" in err
    assert names(out) == []
    # a file that decrypts but is not the design PrintFair lists, whose hash is on chain
    design_file = won["file"]
    other = DesignFile.objects.exclude(pk=design_file.pk).get()  # the other job's, registered
    DesignFile.objects.filter(pk=design_file.pk).update(sha256=other.sha256)
    status, _, err = get(run, won, out)
    assert status == 3, err
    assert f"{NAME} decrypted to a file whose SHA-256 is {design_file.sha256}" in err
    assert f"not the {other.sha256} PrintFair lists" in err and "it was not kept" in err
    assert names(out) == []
    # a hash that nobody registered: refused before anything is fetched
    unregistered = hashlib.sha256(b"never uploaded").hexdigest()
    DesignFile.objects.filter(pk=design_file.pk).update(sha256=unregistered)
    status, _, err = get(run, won, out)
    assert status == 3
    assert f"{NAME} is not registered on chain" in err and unregistered in err
    assert names(out) == []


def test_the_losing_shop_and_a_closed_licence_are_refused(
    won: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job, out = won["job"], tmp_path / "designs"
    token = os.environ["PRINTFAIR_API_KEY"]
    # the losing shop: nothing released to it
    _, loser = api_key_create(actor=losing_shop, name="cli", expires_at=None)
    monkeypatch.setenv("PRINTFAIR_API_KEY", loser)
    status, _, err = get(run, won, out)
    assert status == 1 and f"PrintFair has released no design of job {job.pk} to your shop" in err
    status, _, err = run("print-ticket", str(job.pk), "--machine", "M1", "--serial", "S-1")
    assert status == 1 and "Your shop holds no licence for this job." in err
    assert run("tickets", str(job.pk)) == (0, f"No print tickets for job {job.pk} yet.\n", "")
    # the winner's key without the designs:read scope
    _, production = api_key_create(
        actor=winning_shop, name="floor", expires_at=None, scopes=["production:write"]
    )
    monkeypatch.setenv("PRINTFAIR_API_KEY", production)
    status, _, err = get(run, won, out)
    assert status == 1 and "does not have the scope" in err and "designs:read" in err
    # the licence closed (the order settled): the design is no longer served
    monkeypatch.setenv("PRINTFAIR_API_KEY", token)
    Licence.objects.filter(order__job=job).update(closed_at=timezone.now())
    status, _, err = get(run, won, out)
    assert status == 1 and f"cannot download {NAME}: The licence for this job is closed" in err
    assert names(out) == []
    # keys replaced since the funding cannot open what was released to the old ones
    Licence.objects.filter(order__job=job).update(closed_at=None)
    assert run("keys", "init", "--force", "--light-kdf")[0] == 0
    status, _, err = get(run, won, out)
    assert status == 1 and f"cannot open the data key of {NAME}" in err
    assert names(out) == []


def test_print_tickets_up_to_the_licence_then_refused(
    won: dict[str, Any], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = won["job"]
    allowed = Licence.objects.get(order__job=job).prints_allowed
    assert run("tickets", str(job.pk)) == (0, f"No print tickets for job {job.pk} yet.\n", "")
    # when: every print the licence allows
    for n in range(1, allowed + 1):
        status, out, err = run(
            "print-ticket", str(job.pk), "--machine", "EOS P396 #2", "--serial", f"X4-{n:03}"
        )
        # then: numbered in order
        assert status == 0, err
        ticket = PrintTicket.objects.get(licence__order__job=job, number=n)
        assert out.startswith(
            f"Ticket {n} of {allowed} for job {job.pk} (id {ticket.pk}): machine EOS P396 #2, "
            f"part X4-{n:03}.\nA registered machine's agent prints it with `--ticket {ticket.pk}`."
        )
    assert "That was the last print the licence allows." in out
    # one more is refused, saying why
    status, _, err = run("print-ticket", str(job.pk), "--machine", "EOS P396 #2", "--serial", "X")
    assert status == 1
    assert f"All {allowed} prints this licence allows are taken: no more tickets." in err
    # a blank serial is explained field by field; a missing option is a usage error
    status, _, err = run("print-ticket", str(job.pk), "--machine", "M", "--serial", " ")
    assert status == 1 and "part_serial: " in err
    assert run("print-ticket", str(job.pk), "--machine", "M")[0] == 2
    # tickets: a table, and JSON
    status, out, _ = run("tickets", str(job.pk))
    lines = out.splitlines()
    assert status == 0 and lines[0] == f"Job {job.pk}: {allowed} of {allowed} prints taken."
    assert lines[1].split() == ["ticket", "id", "machine", "part", "serial", "taken"]
    assert len(lines) == 2 + allowed and "X4-001" in lines[2] and "EOS P396 #2" in lines[2]
    listed = json.loads(run("tickets", str(job.pk), "--json")[1])
    assert [t["number"] for t in listed] == list(range(1, allowed + 1))
    assert listed[0]["part_serial"] == "X4-001" and listed[0]["prints_allowed"] == allowed


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_on_a_terminal_and_plain_lines_in_a_log() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def feed(progress: Progress) -> None:
        progress.start(0)
        for _ in range(30):  # 30 MiB in 7.5 s
            now[0] += 0.25
            progress.advance(MiB)
        progress.finish()

    # a terminal: the same line redrawn, then ended once
    terminal = Terminal()
    feed(Progress(terminal, "part.stl", 30 * MiB, clock=clock))
    shown = terminal.getvalue()
    assert shown.count("\n") == 1 and shown.count("\r\x1b[K") == 31
    assert shown.endswith("\r\x1b[Kpart.stl  30.0 MiB / 30.0 MiB  100.0%  4.0 MiB/s\n")
    # a log: a plain line every few seconds, and the last
    log = io.StringIO()
    feed(Progress(log, "part.stl", 30 * MiB, clock=clock))
    lines = log.getvalue().splitlines()
    assert lines == [
        "part.stl  20.0 MiB / 30.0 MiB   66.7%  4.0 MiB/s",
        "part.stl  30.0 MiB / 30.0 MiB  100.0%  4.0 MiB/s",
    ]
    # quiet: nothing
    quiet = Terminal()
    feed(Progress(quiet, "part.stl", 30 * MiB, quiet=True, clock=clock))
    assert quiet.getvalue() == ""
