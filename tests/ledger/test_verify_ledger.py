"""verify_ledger batch by batch (issue 18): records read a few batches at a time, each batch's
Merkle tree rebuilt once, its root asked of the chain once, and checked in worker processes;
`--since` for daily runs. The findings are those of checking every record on its own."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ledger.anvil import Anvil
from ledger.management.commands import verify_ledger as command
from ledger.models import AnchorBatch, RecordLeaf
from ledger.services import ledger_verification
from ledger.services.anchoring import LeafItem, anchor_batch_seal, record_leaves_add
from ledger.services.ledger_verification import ledger_verify
from marketplace.models import DesignFile, User
from marketplace.records import design_file_content
from tests import factories
from tests.scenarios import drain

BATCH = 20
SUCCESS = "Ledger verified: every record matches the chain."


def design_files(customer: User, count: int) -> list[DesignFile]:
    """`count` design files of a published job, straight into the database (no uploads)."""
    job = factories.JobFactory.create(created_by=customer, published_at=timezone.now())
    return DesignFile.objects.bulk_create(
        DesignFile(
            job=job,
            original_name=f"part-{n}.stl",
            kind=DesignFile.Kind.STL_BINARY,
            size_bytes=1_000 + n,
            sha256=f"{job.pk:032x}{n:032x}",
            blob=f"{job.pk}/{n}",
            wrapped_key=b"wrapped",
            kek_version=1,
            uploaded_by=customer,
        )
        for n in range(count)
    )


def anchored(customer: User, count: int, *, send: bool = True) -> list[list[DesignFile]]:
    """`count` design files anchored as the product anchors them, BATCH to a batch: the files of
    each batch, in order."""
    files = design_files(customer, count)
    record_leaves_add(
        kind="design_file", items=[LeafItem(str(f.pk), design_file_content(f)) for f in files]
    )
    while anchor_batch_seal(batch_size=BATCH, force=True) is not None:
        pass
    if send:
        drain()
    return [files[first : first + BATCH] for first in range(0, count, BATCH)]


def batch_of(design_file: DesignFile) -> AnchorBatch:
    batch = RecordLeaf.objects.get(record_id=str(design_file.pk)).batch
    assert batch is not None
    return batch


def found(**options: Any) -> set[tuple[str, str, str]]:
    return {(f.kind, f.record_id, f.problem) for f in ledger_verify(**options)}


def verify_ledger(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two batches to a read, so that a few batches make several reads."""
    monkeypatch.setattr(ledger_verification, "READ_LEAVES", 2 * BATCH)


def test_one_altered_record_among_many_is_the_one_finding(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    # given: five full batches over three reads, all on chain
    batches = anchored(customer, 5 * BATCH)
    assert verify_ledger()[:2] == (0, SUCCESS + "\n")
    # when: one record in the middle of the middle batch is edited
    victim = batches[2][BATCH // 2]
    DesignFile.objects.filter(pk=victim.pk).update(original_name="other.stl")
    # then: it alone is reported, with the same line as before batching
    status, out, err = verify_ledger()
    assert status == 1
    assert out == f"ALTERED       design_file:{victim.pk}  its content changed\n"
    assert "1 altered" in err


def test_a_removed_record_and_one_removed_with_its_leaf(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    batches = anchored(customer, 3 * BATCH)
    gone, gone_with_leaf = batches[1][3], batches[1][7]
    batch = batch_of(gone)
    DesignFile.objects.filter(pk=gone.pk).delete()
    RecordLeaf.objects.filter(record_id=str(gone_with_leaf.pk)).delete()
    DesignFile.objects.filter(pk=gone_with_leaf.pk).delete()
    # The batch's tree no longer has the anchored root: its other leaves are followed hash by
    # hash, and still lead to it.
    assert found() == {
        ("design_file", str(gone.pk), "removed"),
        ("batch", str(batch.pk), "removed"),
    }


def test_records_never_anchored_or_waiting_for_a_batch(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    anchored(customer, 2 * BATCH)
    never, waiting = design_files(customer, 2)
    record_leaves_add(
        kind="design_file", items=[LeafItem(str(waiting.pk), design_file_content(waiting))]
    )
    status, out, _ = verify_ledger()
    assert status == 1
    assert set(out.splitlines()) == {
        f"NOT ANCHORED  design_file:{waiting.pk}  waiting for a batch",
        f"NOT ANCHORED  design_file:{never.pk}  no leaf was ever made",
    }


def test_a_batch_whose_root_the_chain_does_not_hold(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    on_chain = anchored(customer, BATCH)
    off_chain = anchored(customer, BATCH, send=False)[0]
    batch = batch_of(off_chain[0])
    assert found() == {("design_file", str(f.pk), "not anchored") for f in off_chain}
    assert not found() & {("design_file", str(f.pk), "not anchored") for f in on_chain[0]}
    assert any(f.detail == f"batch {batch.pk} is not on chain" for f in ledger_verify())


def test_a_changed_proof_or_stored_leaf_is_found_in_a_batch_whose_tree_still_matches(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    [files] = anchored(customer, BATCH)
    moved, relabelled = (RecordLeaf.objects.get(record_id=str(f.pk)) for f in files[:2])
    # a proof swapped for another leaf's: the tree rebuilt from the leaves still has the root
    moved.proof = relabelled.proof
    moved.save(update_fields=["proof"])
    assert found() == {("design_file", str(files[0].pk), "altered")}
    # a stored leaf changed: the tree no longer has the root, every other leaf still leads to it
    RecordLeaf.objects.filter(pk=relabelled.pk).update(leaf_hash="0x" + "11" * 32)
    assert found() == {
        ("design_file", str(files[0].pk), "altered"),
        ("design_file", str(files[1].pk), "altered"),
    }


def test_since_checks_only_the_batches_sealed_since_then(
    deployed: Anvil, customer: User, small_reads: None
) -> None:
    # given: three batches sealed three days ago, two today, one altered record in each part
    old, new = anchored(customer, 3 * BATCH), anchored(customer, 2 * BATCH)
    three_days_ago = timezone.now() - timedelta(days=3)
    AnchorBatch.objects.filter(pk__in={batch_of(b[0]).pk for b in old}).update(
        created_at=three_days_ago
    )
    for design_file in (old[1][0], new[1][0]):
        DesignFile.objects.filter(pk=design_file.pk).update(size_bytes=1)
    # when / then
    status, out, err = verify_ledger("--since", "1d")
    assert (status, out) == (1, f"ALTERED       design_file:{new[1][0].pk}  its content changed\n")
    assert f"Checking {2 * BATCH} anchored records in 2 batches." in err
    day = (three_days_ago - timedelta(days=1)).date().isoformat()
    assert len(verify_ledger("--since", day)[1].splitlines()) == 2
    assert len(verify_ledger("--since", f"{day}T00:00:00+00:00")[1].splitlines()) == 2
    DesignFile.objects.filter(pk=new[1][0].pk).update(size_bytes=new[1][0].size_bytes)
    status, out, _ = verify_ledger("--since", "36h")
    assert status == 0 and out.startswith("Ledger verified: every record sealed since ")


@pytest.mark.parametrize(
    "since",
    ["yesterday", "2026-13-01", "1w", "-1d", "", "2026-12-01 noon", "9999-01-01", "99999999d"],
)
def test_a_bad_since_is_refused_with_the_forms_it_takes(since: str) -> None:
    with pytest.raises(CommandError, match=re.escape(f"--since {since}") + "|--since takes"):
        call_command("verify_ledger", f"--since={since}")


def test_progress_goes_to_stderr_and_findings_stay_on_stdout(
    deployed: Anvil, customer: User, small_reads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "PROGRESS_EVERY", 0.0)
    anchored(customer, 5 * BATCH)
    status, out, err = verify_ledger()
    assert (status, out) == (0, SUCCESS + "\n")
    lines = err.splitlines()
    assert len(lines) == 4, "before the first read and after each of three"
    assert lines[0] == f"Checking {5 * BATCH} anchored records in 5 batches."
    assert lines[1].startswith(f"  {2 * BATCH} of {5 * BATCH} anchored records checked (2 of 5")
    assert lines[-1].startswith(f"Checked {5 * BATCH} anchored records in 5 batches in ")
    assert verify_ledger("-v", "0")[2] == ""


def test_workers_in_processes_of_their_own_find_what_one_process_finds(
    transactional_db: None, deployed: Anvil, customer: User, small_reads: None
) -> None:
    """Workers read through connections of their own: only committed rows, hence
    transactional_db (inside a transaction, ledger_verify stays in its own process)."""
    batches = anchored(customer, 6 * BATCH)
    altered, removed = batches[1][5], batches[4][0]
    DesignFile.objects.filter(pk=altered.pk).update(original_name="other.stl")
    DesignFile.objects.filter(pk=removed.pk).delete()
    expected = {
        ("design_file", str(altered.pk), "altered"),
        ("design_file", str(removed.pk), "removed"),
    }
    assert found(workers=3) == found(workers=1) == expected
    status, out, _ = verify_ledger("--workers", "2")
    assert status == 1 and len(out.splitlines()) == 2
