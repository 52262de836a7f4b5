"""The timed downloads of bench/design_get.py, over the same ciphertext from the same server:
`design get`'s own, a plain download with the CLI's HTTP client, and what a careful user does
with a plain file (`curl -o`, then `sha256sum`); and what the checks cost alone on this machine.

Each run gives its wall time and its CPU time: this process's, all threads, and the children it
waited for (curl, sha256sum; not the server). On a machine whose cores other work shares, the
wall times follow the CPU time each one needs."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

MiB = 1 << 20
SHA256SUM_LINE = re.compile(r"^([0-9a-f]{64})  ")


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Timing:
    seconds: float
    cpu_seconds: float
    steps: tuple[float, ...] = ()  # the seconds of each step, for a run of several


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()

    def timing(self, *steps: float) -> Timing:
        return Timing(time.perf_counter() - self.wall, cpu_seconds() - self.cpu, steps)


def ciphertext_url(server_url: str, file_id: str) -> str:
    return f"{server_url}/api/v1/releases/{file_id}/ciphertext/"


def cli_download(
    server_url: str, token: str, home: Path, passphrase: str, job: int, out: Path
) -> Timing:
    """`design get`'s transfer, decryption, check and rename for the design of `job` (the key
    unwrapped before the clock starts)."""
    from printfair.cli.api import ApiClient
    from printfair.cli.commands.design import _keep
    from printfair.cli.download import (
        CiphertextClient,
        PartPaths,
        Progress,
        Release,
        fetch_and_decrypt,
    )
    from printfair.cli.keyfile import load_keyfile

    (item,) = ApiClient(server_url, token).paginate("releases/", {"job": str(job)})
    release = Release.from_api(item)
    data_key = release.data_key(load_keyfile(home / "keys.json").unlock_hpke(passphrase))
    client = CiphertextClient(server_url, token)
    paths = PartPaths.in_folder(out, release.file_name)
    progress = Progress(sys.stderr, release.file_name, release.ciphertext_bytes, quiet=True)
    clock = Clock()
    fetched = fetch_and_decrypt(client, release, data_key, paths, progress)
    if fetched.sha256 != release.sha256:
        raise RuntimeError(f"decrypted {fetched.sha256}, expected {release.sha256}")
    _keep(fetched.plaintext, paths.target, force=True)
    paths.forget()
    return clock.timing()


def plain_download(server_url: str, token: str, file_id: str, size: int, target: Path) -> Timing:
    """The ciphertext with the CLI's client library (requests, `stream=True`, `iter_content` of
    1 MiB) straight to a file, nothing else."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    clock = Clock()
    with (
        session.get(ciphertext_url(server_url, file_id), stream=True, timeout=(10, 60)) as answer,
        target.open("wb") as handle,
    ):
        answer.raise_for_status()
        for chunk in answer.iter_content(MiB):
            handle.write(chunk)
    timing = clock.timing()
    if target.stat().st_size != size:
        raise RuntimeError(f"plain download got {target.stat().st_size} bytes")
    return timing


def curl_and_sha256sum(
    server_url: str, token: str, file_id: str, size: int, target: Path
) -> Timing:
    """A careful user with a plain file: `curl -s -o FILE URL` (the same bearer token as the
    plain download), then `sha256sum FILE`, one after the other, as processes; the steps are
    curl's seconds and sha256sum's."""
    url, auth = ciphertext_url(server_url, file_id), f"Authorization: Bearer {token}"
    clock = Clock()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(target), "-H", auth, url], check=True)
    downloaded = time.perf_counter()
    hashed = subprocess.run(
        ["sha256sum", str(target)], check=True, capture_output=True, text=True
    ).stdout
    timing = clock.timing(downloaded - clock.wall, time.perf_counter() - downloaded)
    if target.stat().st_size != size or not SHA256SUM_LINE.match(hashed):
        raise RuntimeError(f"curl got {target.stat().st_size} bytes; sha256sum said {hashed!r}")
    return timing


def missing_tools() -> list[str]:
    return [tool for tool in ("curl", "sha256sum") if shutil.which(tool) is None]


def references(size: int) -> dict[str, float]:
    """What the checks cost on this machine, in process, over as many bytes in 1 MiB pieces:
    SHA-256 (of the plaintext; its speed and its CPU time for `size` bytes) and AES-256-GCM
    decryption (of each segment). A client that checks the hash of what it saves cannot go
    faster than SHA-256, nor spend less CPU: that is the floor."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    piece = os.urandom(MiB)
    count = max(1, size // MiB)
    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    sealed = aead.encrypt(nonce, piece, b"")
    started, cpu = time.perf_counter(), time.thread_time()
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(piece)
    sha256_s, sha256_cpu_s = time.perf_counter() - started, time.thread_time() - cpu
    started = time.perf_counter()
    for _ in range(count):
        aead.decrypt(nonce, sealed, b"")
    aes_s = time.perf_counter() - started
    return {
        "sha256_mb_s": count / sha256_s,
        "sha256_cpu_s": sha256_cpu_s * size / (count * MiB),
        "aes_gcm_mb_s": count / aes_s,
        "sha256_and_aes_one_thread_mb_s": count / (sha256_s + aes_s),
    }


def durable_writes(size: int, folder: Path) -> dict[str, float]:
    """How fast this disk takes `size` bytes of plaintext for good, alone, in process: written
    from page-aligned 1 MiB buffers 4 at a time, as the CLI's writing thread does, then
    fsync'ed; once with O_DIRECT where the file system takes it (the CLI's way) and once
    through the page cache. `design get` cannot keep a file faster than the faster of the two."""
    import mmap

    from bench.common import settle_writes
    from printfair.cli.decrypting import PlaintextFile

    buffers = [mmap.mmap(-1, MiB) for _ in range(4)]
    for buffer in buffers:
        buffer.write(os.urandom(MiB))
    views = [memoryview(buffer) for buffer in buffers]
    speeds = {}
    for name, direct in (("write_direct_mb_s", True), ("write_cached_mb_s", False)):
        path = folder / f".{name}.part"
        settle_writes(say=False)
        started = time.perf_counter()
        part = PlaintextFile(path, keep=0, direct=direct)
        refused = direct and not part.direct  # the file system does not take O_DIRECT
        try:
            for _ in range(max(1, size // (4 * MiB))):
                part.write(views)
            part.sync()
        finally:
            part.close()
        if not refused:
            speeds[name] = max(1, size // (4 * MiB)) * 4 / (time.perf_counter() - started)
        path.unlink()
    for view in views:
        view.release()
    return speeds
