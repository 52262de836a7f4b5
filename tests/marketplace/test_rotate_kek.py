"""`manage.py rotate_kek`: every wrapped key (design files' data keys, custodial wallets' private
keys) is rewrapped under the current key-encryption key; file contents are never touched."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from marketplace import services
from marketplace.models import AuditEvent, CustomerWallet, DesignFile, Job, User
from marketplace.uploads import encrypt_chunks
from tests import factories

K1 = os.urandom(32)
K2 = os.urandom(32)
FILES = ["cube_binary.stl", "star_binary.stl", "halfdonut_binary.stl"]


@dataclass
class Keys:
    """The rows that hold wrapped keys, made under KEK version 1."""

    job: Job
    files: dict[str, bytes]  # design file id -> plaintext
    wallet: CustomerWallet  # custodial
    own_wallet: CustomerWallet  # the customer's own address: no key


@pytest.fixture
def kek_v1(settings: Any) -> None:
    settings.PRINTFAIR_KEKS = {1: K1}
    settings.PRINTFAIR_KEK_CURRENT = 1


def use_v2(settings: Any, *, keep_v1: bool = True) -> None:
    """What an operator does first: add version 2 and make it current."""
    settings.PRINTFAIR_KEKS = {1: K1, 2: K2} if keep_v1 else {2: K2}
    settings.PRINTFAIR_KEK_CURRENT = 2


@pytest.fixture
def keys(kek_v1: None, customer: User, other_customer: User, testdata: Path) -> Keys:
    job = factories.JobFactory.create(created_by=customer)
    files = {}
    for name in FILES:
        data = (testdata / "stl" / name).read_bytes()
        design_file = attach(customer, job, name, data)
        files[str(design_file.pk)] = data
    assert customer.organization is not None and other_customer.organization is not None
    wallet = services.customer_wallet_for(organization=customer.organization)
    own_wallet = CustomerWallet.objects.create(
        organization=other_customer.organization, address="0x" + "11" * 20
    )
    return Keys(job=job, files=files, wallet=wallet, own_wallet=own_wallet)


def attach(customer: User, job: Job, name: str, data: bytes) -> DesignFile:
    return services.design_file_attach(actor=customer, job=job, upload=encrypt_chunks(name, [data]))


def plaintext(customer: User, design_file: DesignFile) -> bytes:
    design_file.refresh_from_db()
    return b"".join(services.design_file_plaintext(actor=customer, design_file=design_file))


def wrapped_state() -> list[tuple[str, bytes | None, int | None]]:
    """Every row's wrapped key and KEK version."""
    rows: list[tuple[str, bytes | None, int | None]] = [
        (str(f.pk), bytes(f.wrapped_key), f.kek_version) for f in DesignFile.objects.order_by("pk")
    ]
    for wallet in CustomerWallet.objects.order_by("pk"):
        key = bytes(wallet.wrapped_key) if wallet.wrapped_key is not None else None
        rows.append((wallet.address, key, wallet.kek_version))
    return rows


def blobs() -> dict[str, tuple[bytes, int]]:
    """Every design file's stored ciphertext and its modification time (ns)."""
    stored = {}
    for design_file in DesignFile.objects.all():
        path = Path(default_storage.path(design_file.blob))
        stored[design_file.blob] = (path.read_bytes(), path.stat().st_mtime_ns)
    return stored


def rotate(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("rotate_kek", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def check() -> tuple[int, str, str]:
    """`rotate_kek --check`: exit status, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("rotate_kek", "--check", stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        return int(exc.code or 0), stdout.getvalue(), stderr.getvalue()
    return 0, stdout.getvalue(), stderr.getvalue()


def large_stl(testdata: Path, copies: int) -> bytes:
    """A valid binary STL of several MiB: a part's triangles repeated."""
    part = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    (count,) = struct.unpack_from("<I", part, 80)
    return part[:80] + struct.pack("<I", count * copies) + part[84:] * copies


def test_rotation_rewraps_every_key_and_leaves_the_files_alone(
    keys: Keys, customer: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    before = wrapped_state()
    stored = blobs()
    use_v2(settings)

    def no_storage(*args: object, **kwargs: object) -> None:
        raise AssertionError("rotation must not read or write file blobs")

    # when
    with monkeypatch.context() as patched:
        for method in ("_open", "_save", "delete"):
            patched.setattr(FileSystemStorage, method, no_storage)
        stdout, _ = rotate()
    # then
    assert set(DesignFile.objects.values_list("kek_version", flat=True)) == {2}
    keys.wallet.refresh_from_db()
    keys.own_wallet.refresh_from_db()
    assert keys.wallet.kek_version == 2
    assert (keys.own_wallet.wrapped_key, keys.own_wallet.kek_version) == (None, None)
    after = wrapped_state()
    changed = [old[1] != new[1] for old, new in zip(before, after, strict=True)]
    assert changed == [True] * len(FILES) + [True, False], "a new wrap for every key, none made"
    assert blobs() == stored, "ciphertext bytes and modification times unchanged"
    for design_file in DesignFile.objects.all():
        assert plaintext(customer, design_file) == keys.files[str(design_file.pk)]
    assert services.customer_wallet_account(wallet=keys.wallet).address == keys.wallet.address
    assert "Rewrapped 4 keys under KEK version 2" in stdout
    assert "from version 1: 4" in stdout
    assert "design files: 3, custodial wallets: 1" in stdout
    event = AuditEvent.objects.get(verb="kek.rotated")
    assert event.actor is None
    assert (event.target_type, event.target_id) == ("printfair.kek", "2")
    assert event.data == {
        "kek_version": 2,
        "rewrapped": {"1": 4},
        "design_files": 3,
        "custodial_wallets": 1,
        "complete": True,
    }


def test_a_second_run_does_nothing(keys: Keys, settings: Any) -> None:
    # given
    use_v2(settings)
    rotate()
    rotated = wrapped_state()
    # when
    stdout, stderr = rotate()
    # then
    assert "Every wrapped key is already on KEK version 2." in stdout
    assert stderr == ""
    assert wrapped_state() == rotated
    assert AuditEvent.objects.filter(verb="kek.rotated").count() == 1


def test_check_reports_keys_per_version_and_fails_until_all_are_current(
    keys: Keys, settings: Any
) -> None:
    # given
    use_v2(settings)
    before = wrapped_state()
    # when
    status, stdout, stderr = check()
    # then
    assert status == 1
    assert "version 1: 4\n" in stdout
    assert "version 2: 0  (current)" in stdout
    assert "4 keys not on the current version 2: run rotate_kek" in stderr
    assert wrapped_state() == before, "--check changes nothing"
    # when
    rotate()
    status, stdout, stderr = check()
    # then
    assert status == 0
    assert "version 1: 0\n" in stdout
    assert "version 2: 4  (current)" in stdout
    assert "Every wrapped key is on KEK version 2. Version 1 can be removed" in stdout
    assert stderr == ""


def test_check_flags_a_version_in_use_that_is_not_configured(keys: Keys, settings: Any) -> None:
    use_v2(settings, keep_v1=False)
    status, stdout, _ = check()
    assert status == 1
    assert "version 1: 4  (NOT CONFIGURED in PRINTFAIR_KEKS)" in stdout


@pytest.mark.parametrize(
    ("configured", "current", "message"),
    [
        pytest.param(
            {2: K2},
            2,
            r"version 1 wraps 3 design files and 1 custodial wallet.*PRINTFAIR_KEKS",
            id="old version missing",
        ),
        pytest.param(
            {1: K1},
            2,
            r"PRINTFAIR_KEK_CURRENT is 2, but PRINTFAIR_KEKS has no key for version 2",
            id="current version missing",
        ),
        pytest.param(
            {1: os.urandom(32), 2: K2},
            2,
            r"KEK version 1 in PRINTFAIR_KEKS does not open the key of design file",
            id="old version has the wrong key",
        ),
    ],
)
def test_a_missing_or_wrong_kek_is_a_clear_error_and_changes_nothing(
    keys: Keys, settings: Any, configured: dict[int, bytes], current: int, message: str
) -> None:
    # given
    before = wrapped_state()
    settings.PRINTFAIR_KEKS = configured
    settings.PRINTFAIR_KEK_CURRENT = current
    # when
    with pytest.raises(CommandError, match=message) as raised:
        rotate()
    # then
    assert "Nothing was changed." in str(raised.value)
    assert wrapped_state() == before
    assert not AuditEvent.objects.filter(verb="kek.rotated").exists()


def test_after_rotation_the_old_version_can_be_retired(
    keys: Keys, customer: User, settings: Any
) -> None:
    # given
    use_v2(settings)
    rotate()
    # when
    use_v2(settings, keep_v1=False)
    # then
    for design_file in DesignFile.objects.all():
        assert plaintext(customer, design_file) == keys.files[str(design_file.pk)]
    keys.wallet.refresh_from_db()
    assert services.customer_wallet_account(wallet=keys.wallet).address == keys.wallet.address
    assert check()[0] == 0


def test_a_download_started_before_the_rotation_finishes(
    kek_v1: None, customer: User, draft_job: Job, settings: Any, testdata: Path
) -> None:
    # given: a download of a file of several segments, partly sent
    data = large_stl(testdata, copies=4)
    design_file = attach(customer, draft_job, "big.stl", data)
    stream = services.design_file_plaintext(actor=customer, design_file=design_file)
    first = next(stream)
    assert 0 < len(first) < len(data)
    # when: the key is rewrapped under version 2 and version 1 retired
    use_v2(settings)
    rotate("--batch-size", "1")
    use_v2(settings, keep_v1=False)
    # then
    assert hashlib.sha256(first + b"".join(stream)).digest() == hashlib.sha256(data).digest()
    assert plaintext(customer, design_file) == data


def test_uploads_during_and_after_the_rotation_end_up_on_the_current_version(
    keys: Keys, customer: User, settings: Any, testdata: Path
) -> None:
    # given: an upload encrypted under version 1 just before the switch, kept only afterwards
    in_flight = encrypt_chunks("box.3mf", [(testdata / "3mf" / "box.3mf").read_bytes()])
    use_v2(settings)
    during: list[DesignFile] = []
    wrapped_on_upload: list[bytes] = []
    calls: list[tuple[int, int]] = []

    def upload_between_batches(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 1:
            data = (testdata / "stl" / "cube_ascii.stl").read_bytes()
            during.append(attach(customer, keys.job, "cube_ascii.stl", data))
            wrapped_on_upload.append(bytes(during[0].wrapped_key))
            during.append(
                services.design_file_attach(actor=customer, job=keys.job, upload=in_flight)
            )

    # when
    report = services.kek_rotate(batch_size=1, progress=upload_between_batches)
    after = attach(customer, keys.job, "sphere.3mf", (testdata / "3mf" / "sphere.3mf").read_bytes())
    # then
    new, late = during
    assert new.kek_version == 2, "an upload after the switch is wrapped under version 2"
    assert late.kek_version == 1
    late.refresh_from_db()
    assert late.kek_version == 2, "the same run caught the key wrapped under version 1"
    assert after.kek_version == 2
    assert report.rewrapped == {1: 5}
    assert report.by_kind == {"design_files": 4, "custodial_wallets": 1}
    assert calls[0] == (1, 4)
    assert calls[-1] == (5, 5), "the total grows by the key found late"
    assert services.kek_usage() == {2: 7}
    new.refresh_from_db()
    assert [bytes(new.wrapped_key)] == wrapped_on_upload, "not rewrapped again"
    use_v2(settings, keep_v1=False)
    assert plaintext(customer, late) == (testdata / "3mf" / "box.3mf").read_bytes()


def test_progress_is_one_line_per_batch_unless_stderr_is_a_terminal(
    keys: Keys, settings: Any
) -> None:
    # given
    use_v2(settings)
    # when
    _, stderr = rotate("--batch-size", "2")
    # then: two batches of design files, one of wallets
    assert stderr.splitlines() == [
        "Rewrapped 2/4 keys",
        "Rewrapped 3/4 keys",
        "Rewrapped 4/4 keys",
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_updated_in_place_on_a_terminal(keys: Keys, settings: Any) -> None:
    # given
    use_v2(settings)
    stderr = Terminal()
    # when
    call_command("rotate_kek", "--batch-size", "3", stdout=io.StringIO(), stderr=stderr)
    # then
    assert stderr.getvalue() == "\rRewrapped 3/4 keys\rRewrapped 4/4 keys\n"


def test_a_bad_batch_size_is_refused(keys: Keys, settings: Any) -> None:
    use_v2(settings)
    with pytest.raises(CommandError, match="batch size must be at least 1"):
        rotate("--batch-size", "0")
    assert services.kek_usage() == {1: 4}


@pytest.mark.django_db(transaction=True)
def test_a_wallet_switched_to_its_own_address_while_locked_keeps_no_key(
    kek_v1: None, customer: User, settings: Any
) -> None:
    """The rotation waits for the wallet's row lock and re-checks the row: it does not write a
    key back into a wallet that became the customer's own address in the meantime."""
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (PostgreSQL)")
    # given
    assert customer.organization is not None
    wallet = services.customer_wallet_for(organization=customer.organization)
    use_v2(settings)
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def switch_to_own_address() -> None:
        try:
            with transaction.atomic():
                CustomerWallet.objects.select_for_update().get(pk=wallet.pk)
                locked.set()
                release.wait(timeout=30)
                CustomerWallet.objects.filter(pk=wallet.pk).update(
                    address="0x" + "22" * 20, wrapped_key=None, kek_version=None
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    reports: list[services.RotationReport] = []

    def run_rotation() -> None:
        try:
            reports.append(services.kek_rotate())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=switch_to_own_address)
    holder.start()
    assert locked.wait(timeout=30)
    rotation = threading.Thread(target=run_rotation)
    rotation.start()
    # when: the rotation is waiting for the lock, the wallet changes and the lock is released
    wait_for_a_lock_wait(timeout=30)
    release.set()
    holder.join(timeout=30)
    rotation.join(timeout=30)
    # then
    assert errors == []
    wallet.refresh_from_db()
    assert (wallet.wrapped_key, wallet.kek_version) == (None, None)
    assert reports[0].total == 0


def wait_for_a_lock_wait(*, timeout: float) -> None:
    """Until some other session of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            (waiting,) = cursor.fetchone()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the rotation never waited for the row lock")
