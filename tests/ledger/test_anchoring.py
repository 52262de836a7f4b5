"""Anchoring records in Merkle batches, and verify_ledger, against a real anvil."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger.anvil import Anvil
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import AnchorBatch, ChainTx, RecordLeaf
from ledger.services.anchoring import anchor_batch_seal, anchor_batches_seal_due
from ledger.services.ledger_verification import ledger_verify
from marketplace.models import DesignFile, Job, User
from marketplace.services import design_file_attach, job_publish
from marketplace.uploads import encrypt_chunks
from printfair.merkle import record_leaf
from tests import factories
from tests.scenarios import drain


def published_job(customer: User, testdata: Any, names: tuple[str, ...]) -> Job:
    job = factories.JobFactory.create(created_by=customer)
    for name in names:
        data = (testdata / "stl" / name).read_bytes()
        design_file_attach(actor=customer, job=job, upload=encrypt_chunks(name, [data]))
    return job_publish(actor=customer, job=job)


NAMES = ("cube_binary.stl", "star_binary.stl", "halfdonut_binary.stl", "rear_case_binary.stl")


def test_publishing_adds_a_leaf_per_file_and_a_batch_anchors_them(
    deployed: Anvil, customer: User, testdata: Any
) -> None:
    job = published_job(customer, testdata, NAMES)
    assert RecordLeaf.objects.filter(kind="design_file").count() == len(NAMES)
    assert anchor_batch_seal() is None, "not full and not due yet"
    batch = anchor_batch_seal(force=True)
    assert batch is not None and batch.leaf_count == len(NAMES)
    drain()
    batch.refresh_from_db()
    assert batch.chain_tx is not None and batch.chain_tx.status == ChainTx.Status.FINAL
    anchor = contract(web3_client(), "RecordAnchor")
    for leaf in RecordLeaf.objects.filter(batch=batch):
        proof = [bytes.fromhex(node[2:]) for node in leaf.proof]
        leaf_bytes = bytes.fromhex(leaf.leaf_hash[2:])
        assert anchor.functions.verify(proof, bytes.fromhex(batch.root[2:]), leaf_bytes).call()
    assert list(ledger_verify()) == []
    assert job.files.count() == len(NAMES)


def test_batches_seal_when_full_or_due(
    deployed: Anvil, customer: User, testdata: Any, settings: Any
) -> None:
    settings.PRINTFAIR_ANCHOR_BATCH_SIZE = 3
    published_job(customer, testdata, NAMES)
    assert anchor_batches_seal_due() == 1, "one full batch of 3; the 4th waits"
    assert RecordLeaf.objects.filter(batch__isnull=True).count() == 1
    RecordLeaf.objects.filter(batch__isnull=True).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    assert anchor_batches_seal_due() == 1
    assert AnchorBatch.objects.count() == 2


def test_a_batch_is_sealed_once_no_record_came_for_a_moment_or_its_oldest_waited_too_long(
    deployed: Anvil, customer: User, testdata: Any, settings: Any
) -> None:
    """Records that come one by one wait a moment for their batch (issue 18: up to 30 s, and a
    10 s schedule, before); records that keep coming are sealed by age."""
    settings.PRINTFAIR_ANCHOR_IDLE, settings.PRINTFAIR_ANCHOR_MAX_AGE = 2.0, 10.0
    published_job(customer, testdata, NAMES)
    waiting = RecordLeaf.objects.filter(batch__isnull=True).order_by("id")

    def came(*seconds_ago: float) -> None:
        # Seconds before now, with a margin of a second or more to each bound for a busy machine.
        now = timezone.now()
        for leaf, ago in zip(waiting.all(), seconds_ago, strict=True):
            RecordLeaf.objects.filter(pk=leaf.pk).update(created_at=now - timedelta(seconds=ago))

    # a queue still filling: the last came a moment ago, the first 8 s ago
    came(8.0, 6.0, 3.0, 0.2)
    assert anchor_batches_seal_due() == 0
    # nothing came for 2 s: sealed
    came(8.0, 6.0, 4.0, 3.0)
    assert anchor_batches_seal_due() == 1
    assert AnchorBatch.objects.get().leaf_count == len(NAMES)

    # a queue that never goes quiet is sealed once its oldest has waited 10 s
    published_job(customer, testdata, NAMES)
    came(8.0, 6.0, 3.0, 0.2)
    assert anchor_batches_seal_due() == 0
    came(11.0, 6.0, 3.0, 0.2)
    assert anchor_batches_seal_due() == 1
    assert not waiting.exists()


def test_verify_ledger_names_every_tampered_record(
    deployed: Anvil, customer: User, testdata: Any
) -> None:
    # given: four anchored files, and a fifth published after the batch and never anchored
    job = published_job(customer, testdata, NAMES)
    anchor_batch_seal(force=True)
    drain()
    late = published_job(customer, testdata, ("cube_ascii.stl",))
    late_file = late.files.get()
    altered, removed, proof_broken, fine = job.files.order_by("created_at")
    # when: one record is edited, one deleted, one leaf's proof tampered with
    DesignFile.objects.filter(pk=altered.pk).update(original_name="other.stl")
    DesignFile.objects.filter(pk=removed.pk).delete()
    leaf = RecordLeaf.objects.get(record_id=str(proof_broken.pk))
    leaf.proof = list(reversed(leaf.proof)) if len(leaf.proof) > 1 else ["0x" + "00" * 32]
    leaf.save()
    # then
    findings = {(f.record_id, f.problem) for f in ledger_verify()}
    assert findings == {
        (str(altered.pk), "altered"),
        (str(removed.pk), "removed"),
        (str(proof_broken.pk), "altered"),
        (str(late_file.pk), "not anchored"),
    }
    assert str(fine.pk) not in {record for record, _ in findings}


def test_verify_ledger_command_exit_status(deployed: Anvil, customer: User, testdata: Any) -> None:
    published_job(customer, testdata, NAMES[:2])
    with pytest.raises(SystemExit) as caught:
        call_command("verify_ledger")
    assert caught.value.code == 1
    anchor_batch_seal(force=True)
    drain()
    call_command("verify_ledger")  # passes: no SystemExit


def test_a_record_missing_its_leaf_is_reported(
    deployed: Anvil, customer: User, testdata: Any
) -> None:
    job = published_job(customer, testdata, NAMES[:1])
    anchor_batch_seal(force=True)
    drain()
    batch = RecordLeaf.objects.get().batch
    assert batch is not None
    RecordLeaf.objects.all().delete()
    found = {(f.kind, f.record_id, f.problem) for f in ledger_verify()}
    # the record has no leaf, and its batch lost one of the leaves the chain committed to
    assert found == {
        ("design_file", str(job.files.get().pk), "not anchored"),
        ("batch", str(batch.pk), "removed"),
    }


def test_record_leaf_is_the_openzeppelin_leaf_of_the_canonical_hash(
    deployed: Anvil, customer: User, testdata: Any
) -> None:
    published_job(customer, testdata, NAMES[:1])
    leaf = RecordLeaf.objects.get()
    assert leaf.leaf_hash == "0x" + record_leaf(bytes.fromhex(leaf.record_hash[2:])).hex()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_verify_ledger_names_exactly_the_records_edited_at_random(
    deployed: Anvil, customer: User, testdata: Any, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    job = published_job(customer, testdata, NAMES)
    other = published_job(customer, testdata, ("cube_ascii.stl", "halfdonut_ascii.stl"))
    anchor_batch_seal(force=True)
    drain()
    assert list(ledger_verify()) == []
    files = list(job.files.all()) + list(other.files.all())
    edits = {
        "altered": lambda f: DesignFile.objects.filter(pk=f.pk).update(
            sha256=f"{rng.getrandbits(256):064x}"
        ),
        "removed": lambda f: DesignFile.objects.filter(pk=f.pk).delete(),
        "resized": lambda f: DesignFile.objects.filter(pk=f.pk).update(size_bytes=f.size_bytes + 1),
    }
    expected = {}
    for design_file in rng.sample(files, k=rng.randint(1, len(files))):
        how = rng.choice(sorted(edits))
        edits[how](design_file)
        expected[str(design_file.pk)] = "removed" if how == "removed" else "altered"
    assert {f.record_id: f.problem for f in ledger_verify()} == expected
