"""Design-file uploads through the real view and upload handler, and downloads back."""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files import uploadedfile
from django.test import Client
from django.urls import reverse
from stl import mesh

from marketplace.models import DesignFile, Job, User
from printfair.envelope import ciphertext_size
from tests import factories

Upload = Callable[..., Any]


def assert_nothing_kept(stored_files: Callable[[], list[Path]]) -> None:
    """No design file row, no ciphertext blob and no part of an upload remain."""
    assert not DesignFile.objects.exists()
    assert stored_files() == []


def reference_geometry(path: Path) -> tuple[int, tuple[float, float, float], float]:
    """Triangle count, bounding-box size (mm) and volume (cm³) by numpy-stl."""
    part = mesh.Mesh.from_file(str(path))
    volume, _, _ = part.get_mass_properties()
    size = part.max_ - part.min_
    return len(part.vectors), tuple(float(v) for v in size), abs(float(volume)) / 1000  # type: ignore[return-value]


@pytest.mark.parametrize(
    "name", ["cube_binary.stl", "cube_ascii.stl", "halfdonut_binary.stl", "rear_case_binary.stl"]
)
def test_stl_upload_is_encrypted_and_measured(
    name: str,
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    # given
    path = testdata / "stl" / name
    data = path.read_bytes()
    # when
    response = upload(customer, draft_job, (name, data))
    # then
    assert response.status_code == 200
    assert name in response.content.decode()
    design_file = DesignFile.objects.get(job=draft_job)
    triangles, size, volume = reference_geometry(path)
    assert design_file.triangle_count == triangles
    assert design_file.size_mm == pytest.approx(size, rel=1e-6)
    assert design_file.volume_cm3 == pytest.approx(volume, rel=1e-6)
    assert (design_file.watertight, design_file.consistently_wound) == (True, True)
    assert design_file.sha256 == hashlib.sha256(data).hexdigest()
    assert design_file.size_bytes == len(data)
    blobs = stored_files()
    assert [p.name for p in blobs] == [f"{design_file.pk}.pfe"], "only the ciphertext blob remains"
    stored = blobs[0].read_bytes()
    assert len(stored) == ciphertext_size(len(data))
    assert data[100:164] not in stored
    draft_job.refresh_from_db()
    assert draft_job.envelope_mm == pytest.approx(sorted(size, reverse=True), rel=1e-6)


def test_ascii_and_binary_versions_give_the_same_geometry(
    customer: User, upload: Upload, testdata: Path
) -> None:
    for shape in ("cube", "halfdonut"):
        job = factories.JobFactory.create(created_by=customer)
        upload(
            customer,
            job,
            (f"{shape}_ascii.stl", (testdata / "stl" / f"{shape}_ascii.stl").read_bytes()),
            (f"{shape}_binary.stl", (testdata / "stl" / f"{shape}_binary.stl").read_bytes()),
        )
        ascii_file, binary_file = job.files.order_by("kind")
        assert ascii_file.kind == "stl_ascii" and binary_file.kind == "stl_binary"
        assert ascii_file.triangle_count == binary_file.triangle_count
        assert ascii_file.size_mm == pytest.approx(binary_file.size_mm, rel=1e-5)
        assert ascii_file.volume_cm3 == pytest.approx(binary_file.volume_cm3, rel=1e-5)


def test_3mf_and_step_uploads(
    customer: User, draft_job: Job, upload: Upload, testdata: Path
) -> None:
    step = (
        b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('bracket'),'2;1');\nENDSEC;\n"
        b"DATA;\nENDSEC;\nEND-ISO-10303-21;\n"
    )
    response = upload(
        customer,
        draft_job,
        ("box.3mf", (testdata / "3mf" / "box.3mf").read_bytes()),
        ("bracket.step", step),
    )
    assert response.status_code == 200
    box = draft_job.files.get(kind="3mf")
    assert box.triangle_count == 12
    assert box.volume_cm3 is not None and box.volume_cm3 > 0
    assert (box.watertight, box.consistently_wound) == (True, True)
    bracket = draft_job.files.get(kind="step")
    assert bracket.triangle_count is None and bracket.size_mm is None
    assert bracket.volume_cm3 is None and bracket.is_closed is None


def test_a_mesh_that_is_not_closed_says_so_instead_of_a_volume(
    customer: User, draft_job: Job, upload: Upload
) -> None:
    # given numpy-stl's triamid.stl, closed but with five of its ten facets facing inwards
    data = (Path(__file__).resolve().parents[1] / "data" / "geometry" / "triamid.stl").read_bytes()
    # when it is uploaded
    response = upload(customer, draft_job, ("triamid.stl", data))
    # then it is kept, with no volume (its signed volume depends on the origin) and the reason
    assert response.status_code == 200
    design_file = draft_job.files.get()
    assert design_file.volume_cm3 is None
    assert (design_file.watertight, design_file.consistently_wound) == (True, False)
    assert design_file.is_closed is False
    page = response.content.decode()
    assert "not closed — volume not meaningful" in page
    assert "not consistently wound" in page and "not watertight" not in page


def test_many_files_in_one_upload_keep_the_good_and_name_the_bad(
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    response = upload(
        customer,
        draft_job,
        ("good.stl", (testdata / "stl" / "star_binary.stl").read_bytes()),
        ("fake.3mf", b"this is not a zip file at all"),
        ("empty.stl", b""),
        ("notes.txt", b"hello"),
    )
    body = response.content.decode()
    assert [f.original_name for f in draft_job.files.all()] == ["good.stl"]
    assert "fake.3mf" in body and "notes.txt" in body and "empty" in body.lower()
    assert len(stored_files()) == 1


def test_wrong_content_for_the_name_is_refused(
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    response = upload(
        customer, draft_job, ("part.stl", (testdata / "3mf" / "box.3mf").read_bytes())
    )
    assert "part.stl" in response.content.decode()
    assert_nothing_kept(stored_files)


def test_truncated_binary_stl_is_refused(
    customer: User, draft_job: Job, upload: Upload, testdata: Path
) -> None:
    data = (testdata / "stl" / "halfdonut_binary.stl").read_bytes()
    upload(customer, draft_job, ("cut.stl", data[:-20]))
    assert not DesignFile.objects.exists()


def test_over_the_size_limit_is_refused_with_nothing_kept(
    settings: Any,
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    settings.PRINTFAIR_MAX_UPLOAD_BYTES = 100_000
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    response = upload(customer, draft_job, ("big.stl", data))
    assert "“big.stl” is larger than the 97.7 KB limit." in response.content.decode()
    assert_nothing_kept(stored_files)


def test_zip_bomb_3mf_is_refused(
    settings: Any, customer: User, draft_job: Job, upload: Upload
) -> None:
    settings.PRINTFAIR_MAX_3MF_UNCOMPRESSED_BYTES = 1 << 20
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", b"<model>" + b" " * (8 << 20) + b"</model>")
    response = upload(customer, draft_job, ("bomb.3mf", buffer.getvalue()))
    assert "bomb.3mf" in response.content.decode() or "expands" in response.content.decode()
    assert not DesignFile.objects.exists()


def test_the_same_file_twice_is_refused(
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    data = (testdata / "stl" / "star_binary.stl").read_bytes()
    upload(customer, draft_job, ("star.stl", data))
    response = upload(customer, draft_job, ("star-again.stl", data))
    assert "already attached" in response.content.decode()
    assert draft_job.files.count() == 1
    assert len(stored_files()) == 1


def test_plaintext_never_reaches_a_temporary_file(
    monkeypatch: pytest.MonkeyPatch, customer: User, draft_job: Job, upload: Upload, testdata: Path
) -> None:
    written: list[bytes] = []
    real = tempfile.NamedTemporaryFile

    class Spy:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._file = real(*args, **kwargs)

        def write(self, data: bytes) -> int:
            written.append(bytes(data))
            return self._file.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._file, name)

    monkeypatch.setattr(uploadedfile.tempfile, "NamedTemporaryFile", Spy)
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    upload(customer, draft_job, ("case.stl", data))
    assert draft_job.files.count() == 1
    everything = b"".join(written)
    assert len(everything) == ciphertext_size(len(data))
    assert data[1000:1064] not in everything


def test_download_gives_back_the_exact_bytes(
    customer: User,
    draft_job: Job,
    upload: Upload,
    login: Callable[[User | None], Client],
    testdata: Path,
) -> None:
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    upload(customer, draft_job, ("case.stl", data))
    design_file = draft_job.files.get()
    response = login(customer).get(
        reverse("design_file_download", args=[draft_job.pk, design_file.pk])
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Length"] == str(len(data))
    assert 'filename="case.stl"' in response["Content-Disposition"]


def test_a_tampered_blob_is_not_served(
    customer: User,
    draft_job: Job,
    upload: Upload,
    login: Callable[[User | None], Client],
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    data = (testdata / "stl" / "halfdonut_binary.stl").read_bytes()
    upload(customer, draft_job, ("donut.stl", data))
    design_file = draft_job.files.get()
    blob = stored_files()[0]
    tampered = bytearray(blob.read_bytes())
    tampered[40] ^= 1
    blob.write_bytes(bytes(tampered))
    response = login(customer).get(
        reverse("design_file_download", args=[draft_job.pk, design_file.pk])
    )
    with pytest.raises(ValueError):
        b"".join(response.streaming_content)


def test_files_are_fixed_once_published(
    customer: User,
    draft_job: Job,
    upload: Upload,
    login: Callable[[User | None], Client],
    testdata: Path,
) -> None:
    data = (testdata / "stl" / "star_binary.stl").read_bytes()
    upload(customer, draft_job, ("star.stl", data))
    Job.objects.filter(pk=draft_job.pk).update(status=Job.Status.OPEN)
    response = upload(
        customer, draft_job, ("cube.stl", (testdata / "stl" / "cube_binary.stl").read_bytes())
    )
    assert "only be added while the job is a draft" in response.content.decode()
    design_file = draft_job.files.get()
    login(customer).post(reverse("design_file_delete", args=[draft_job.pk, design_file.pk]))
    assert draft_job.files.count() == 1


def test_removing_a_file_deletes_its_blob(
    customer: User,
    draft_job: Job,
    upload: Upload,
    login: Callable[[User | None], Client],
    testdata: Path,
    stored_files: Callable[[], list[Path]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    upload(customer, draft_job, ("star.stl", (testdata / "stl" / "star_binary.stl").read_bytes()))
    design_file = draft_job.files.get()
    with django_capture_on_commit_callbacks(execute=True):
        login(customer).post(reverse("design_file_delete", args=[draft_job.pk, design_file.pk]))
    assert not draft_job.files.exists()
    assert stored_files() == []
    draft_job.refresh_from_db()
    assert draft_job.envelope_mm is None


def closed_torus(segments: int, rings: int) -> np.ndarray:
    """The facets of a closed, outward-facing torus (radii 80 and 30 mm), float32 corners."""
    u, v = np.meshgrid(
        np.linspace(0, 2 * np.pi, segments, endpoint=False),
        np.linspace(0, 2 * np.pi, rings, endpoint=False),
        indexing="ij",
    )
    points = np.stack(
        [(80 + 30 * np.cos(v)) * np.cos(u), (80 + 30 * np.cos(v)) * np.sin(u), 30 * np.sin(v)],
        axis=-1,
    ).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(segments), np.arange(rings), indexing="ij")
    a, b = i * rings + j, (i + 1) % segments * rings + j
    c, d = (i + 1) % segments * rings + (j + 1) % rings, i * rings + (j + 1) % rings
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    corners: np.ndarray = points.astype(np.float32)[faces]
    return corners


def test_geometry_matches_numpy_stl_on_a_large_generated_part(
    customer: User, draft_job: Job, upload: Upload, tmp_path: Path
) -> None:
    # A closed part of 200k triangles spans many 1 MiB upload chunks and envelope segments.
    part = mesh.Mesh(np.zeros(200_000, dtype=mesh.Mesh.dtype))
    part.vectors[:] = closed_torus(400, 250)
    path = tmp_path / "torus.stl"
    part.save(str(path))
    upload(customer, draft_job, ("torus.stl", path.read_bytes()))
    design_file = draft_job.files.get()
    triangles, size, volume = reference_geometry(path)
    assert design_file.triangle_count == triangles
    assert design_file.size_mm == pytest.approx(size, rel=1e-6)
    assert design_file.volume_cm3 == pytest.approx(volume, rel=1e-4)
    assert (design_file.watertight, design_file.consistently_wound) == (True, True)


def test_a_storage_failure_is_reported_and_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch,
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
    stored_files: Callable[[], list[Path]],
) -> None:
    from marketplace import uploads

    def disk_full(self: Any, plaintext: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(uploads.CiphertextSink, "put", disk_full)
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    response = upload(customer, draft_job, ("case.stl", data))
    assert response.status_code == 200
    assert "could not store this file just now" in response.content.decode()
    assert_nothing_kept(stored_files)


def test_an_upload_folder_removed_under_the_server_is_made_again(
    settings: Any,
    customer: User,
    draft_job: Job,
    upload: Upload,
    testdata: Path,
) -> None:
    # given: the folder uploads arrive in, removed while the server runs (a tmp cleaner)
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    shutil.rmtree(incoming, ignore_errors=True)
    # when
    data = (testdata / "stl" / "cube_binary.stl").read_bytes()
    response = upload(customer, draft_job, ("cube.stl", data))
    # then: stored and measured, not a 500
    assert response.status_code == 200
    assert draft_job.files.get().triangle_count == 12
    assert incoming.is_dir()
