"""Background work in a real Celery worker (over Redis on CI, the in-memory broker otherwise)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.celery_app import app
from marketplace.models import Notice, User
from marketplace.notifications import notify
from marketplace.services import design_file_attach
from marketplace.tasks import purge_abandoned_uploads_task, send_notices_task
from marketplace.uploads import encrypt_chunks
from tests import factories


def age(path: Path, seconds: int) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.mark.django_db(transaction=True)
def test_worker_purges_abandoned_ciphertext_and_keeps_the_rest(
    settings: Any, testdata: Path
) -> None:
    # given: a part left by a crashed upload, one still arriving, an orphan blob and a kept file
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    incoming.mkdir(parents=True, exist_ok=True)
    crashed, arriving = incoming / "tmp1.upload.stl", incoming / "tmp2.upload.stl"
    crashed.write_bytes(b"ciphertext")
    arriving.write_bytes(b"ciphertext")
    age(crashed, 2 * 3600)
    orphan = Path(
        default_storage.path(default_storage.save("designs/999/orphan.pfe", ContentFile(b"x")))
    )
    age(orphan, 2 * 3600)
    customer: User = factories.customer("pat@acme.example", "Acme")
    job = factories.JobFactory.create(created_by=customer)
    kept = design_file_attach(
        actor=customer,
        job=job,
        upload=encrypt_chunks("star.stl", [(testdata / "stl" / "star_binary.stl").read_bytes()]),
    )
    kept_path = Path(default_storage.path(kept.blob))
    age(kept_path, 2 * 3600)

    # when
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        purge_abandoned_uploads_task.delay()
        deadline = time.monotonic() + 30
        while (crashed.exists() or orphan.exists()) and time.monotonic() < deadline:
            time.sleep(0.1)

    # then
    assert not crashed.exists() and not orphan.exists()
    assert arriving.exists() and kept_path.exists()


@pytest.mark.django_db(transaction=True)
def test_worker_mails_the_notices_a_moment_wrote(mailoutbox: list[Any]) -> None:
    # given: a moment's notice, committed
    customer: User = factories.customer("pat@acme.example", "Acme")
    assert customer.organization is not None
    notify(organization=customer.organization, key="k:1", subject="Job #1", body="B", path="/")
    # when: beat's task runs in the worker
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        send_notices_task.delay()
        deadline = time.monotonic() + 30
        while not mailoutbox and time.monotonic() < deadline:
            time.sleep(0.1)
    # then: it is mailed, and marked so
    assert [(m.subject, m.to) for m in mailoutbox] == [("Job #1", ["pat@acme.example"])]
    assert Notice.objects.get().mailed_at is not None
