#!/usr/bin/env python
"""Download-and-decrypt throughput and memory of `printfair design get` (DESIGN.md section 3
step 8, section 5).

A binary STL of --size-mib (default 256 MiB) is put through the real upload pipeline in process
(encrypt_chunks + design_file_attach: AES-256-GCM STREAM, SHA-256, geometry), its registration
sent to a fresh anvil by the real sender (DesignRegistry.register, so the CLI's chain check is
real), and released to a shop whose keys the CLI made (light KDF). The release is set up without
an auction (bench/common.py funded_order): an Order row is written directly (its award event a
placeholder ChainEvent row) and `printshops.services.licence_open(order=...)`, the service the
funding handler calls, wraps the data key to the shop's HPKE key and opens the licence. The
server is gunicorn with one sync worker on loopback (bench/upload.py's Server), the production
settings of bench/settings.py.

(a) The CLI's download + decrypt, in process: `printfair.cli.download.fetch_and_decrypt` (the
    ciphertext read sealed segment by sealed segment and decrypted by this thread, each
    segment's plaintext hashed by a second one and written to the part by a third, with
    O_DIRECT where the file system takes it; the part fsync'ed at the end; no ciphertext
    written to disk), then the SHA-256 check, the rename and the removal
    of the resume file, as `design get` does them; the key is unwrapped before the clock
    starts. Against, in the same run, in rounds whose order turns (bench/design_get_runs.py):
(b) a plain download of the same ciphertext from the same server with the same HTTP client
    (requests, `stream=True`, `iter_content` of 1 MiB to a file, no decryption, no fsync).
    Goal: ratio (a)/(b) >= 0.45;
(d) a careful user with a plain file of that size: `curl -s -o FILE URL` (the same token), then
    `sha256sum FILE`, one after the other, timed together. Goal: (a)/(d) >= 3.
    MB/s are of ciphertext bytes (MB = 2**20 bytes, as in bench/upload.py); medians of --rounds.
    Each run's CPU time is reported too (the server's aside): where other work shares the
    cores, as on a busy CI machine, wall times follow it, and so do the ratios.
    For reference, SHA-256 and AES-256-GCM over as many bytes in process, and the disk keeping
    as many bytes alone (written 4 MiB at a time, then fsync'ed; with O_DIRECT as the CLI
    writes, and through the page cache): a client that checks the plaintext's hash and keeps
    the file for good cannot go faster than SHA-256 alone, nor than the faster way of keeping
    it (the floor; `ratio_ceiling` is the slower of the two over (b)'s speed), and on a small
    machine either is slower than a loopback download that only copies bytes into the page
    cache.
(c) Peak memory of the `printfair design get` command as a process: each run is the only child
    of a small wrapper process that reports `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`. The
    baseline is the same interpreter with the CLI loaded and nothing done (`printfair
    --version`), and a --small-mib (64 MiB) design is run too. Goal: the big design's peak
    under 64 MiB above the baseline, and the same as the smaller one's. The command's wall time
    (interpreter start, keys, chain check and all) is reported beside it. With production keys
    (scrypt N=2**18) unlocking the keys alone takes 256 MiB for a moment, whatever the file: the
    figures here use light-KDF keys so that they show the download.

    make bench    # or: .venv/bin/python -m bench.design_get [--size-mib 256] [--rounds 7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, bench_job_spec, django_with_anvil, funded_order, settle_writes
from bench.design_get_runs import (
    Timing,
    cli_download,
    curl_and_sha256sum,
    durable_writes,
    missing_tools,
    plain_download,
    references,
)
from bench.upload import Server, make_stl

MiB = 1 << 20
PASSPHRASE = "bench passphrase, light KDF"  # noqa: S105 - throwaway keys of a scratch folder
MEMORY_GOAL_MIB = 64
RATIO_GOAL = 0.45
CURL_SHA256SUM_GOAL = 3.0
# Runs a command as its only child and reports the child's peak RSS (KiB on Linux).
WRAPPER = """\
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "status": done.returncode,
    "seconds": time.perf_counter() - started,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "stderr": done.stderr[-2000:],
}))
"""
CLI = "import sys; from printfair.cli import main; sys.exit(main())"


@dataclass
class Released:
    job: int
    name: str
    size_bytes: int
    ciphertext_bytes: int
    sha256: str
    file_id: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in file_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            yield chunk


class Bench:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env, self.anvil = django_with_anvil(scratch)
        self.home = scratch / "home"

    def start(self) -> None:
        from django.utils import timezone
        from django.utils.crypto import get_random_string

        from ledger.chain import chain_config, operator_account, web3_client
        from ledger.contracts import deploy_all
        from marketplace.services import user_sign_up
        from printfair.cli.keyfile import create_keyfile
        from printfair.keys import registration_message, sign_registration
        from printshops.models import PrintShopProfile
        from printshops.services import (
            api_key_create,
            shop_key_challenge_create,
            shop_keys_register,
        )

        self.anvil.start()
        deploy_all(web3_client(), account=operator_account(), config=chain_config())
        self.customer = user_sign_up(
            email="bench-customer@printfair.example",
            password=get_random_string(20),
            name="Bench customer",
            organization_name="Bench Customer Ltd",
            kind="customer",
        )
        self.shop = user_sign_up(
            email="bench-shop@printfair.example",
            password=get_random_string(20),
            name="Bench shop",
            organization_name="Bench Prints",
            kind="print_shop",
        )
        organization = self.shop.organization
        assert organization is not None
        self.shop_organization = organization
        PrintShopProfile.objects.filter(organization=organization).update(
            verified_at=timezone.now(), processes=["sls"], materials=["pa12"]
        )
        # The shop's keys as `printfair keys init --light-kdf` makes them, registered as
        # `printfair keys register` does.
        keys = create_keyfile(self.home / "keys.json", PASSPHRASE, force=False, light=True)
        account = keys.unlock_ethereum(PASSPHRASE)
        self.shop_address = account.address
        challenge = shop_key_challenge_create(actor=self.shop)
        message = registration_message(
            shop_id=challenge.organization_id,
            address=account.address,
            hpke_kem=str(keys.hpke_kem),
            hpke_public_key=keys.hpke_public_key,
            challenge=challenge.challenge,
        )
        shop_keys_register(
            actor=self.shop,
            challenge=challenge.challenge,
            address=account.address,
            signature=sign_registration(account.key, message),
            hpke_kem=str(keys.hpke_kem),
            hpke_public_key=keys.hpke_public_key,
        )
        _, self.token = api_key_create(
            actor=self.shop, name="bench", expires_at=None, scopes=["designs:read"]
        )

    def release(self, path: Path) -> Released:
        """Upload `path` as a new job's design, register it on chain, award the job to the shop
        and release the design to it (see the module docstring)."""
        from marketplace.services import design_file_attach, job_create
        from marketplace.uploads import encrypt_chunks

        job = job_create(
            actor=self.customer,
            spec=bench_job_spec(
                reserve=100, bidding=timedelta(days=1), revealing=timedelta(days=1)
            ),
        )
        design_file = design_file_attach(
            actor=self.customer, job=job, upload=encrypt_chunks(path.name, file_chunks(path))
        )
        self.send_chain_writes()
        funded_order(job=job, shop=self.shop_organization, shop_address=self.shop_address)
        from django.core.files.storage import default_storage

        return Released(
            job=job.pk,
            name=path.name,
            size_bytes=design_file.size_bytes,
            ciphertext_bytes=int(default_storage.size(design_file.blob)),
            sha256=design_file.sha256,
            file_id=str(design_file.pk),
        )

    def send_chain_writes(self) -> None:
        """The sender's passes until every queued write (the design registrations) is final."""
        from ledger.models import ChainTx
        from ledger.services.sender import chaintx_process

        deadline = time.monotonic() + 60
        while ChainTx.objects.exclude(status=ChainTx.Status.FINAL).exists():
            failed = ChainTx.objects.filter(status=ChainTx.Status.FAILED).first()
            if failed is not None:
                raise RuntimeError(f"{failed.idempotency_key} failed: {failed.error}")
            if time.monotonic() > deadline:
                raise RuntimeError("the chain writes did not become final within 60 s")
            chaintx_process()

    def stop(self) -> None:
        from django.db import connections

        self.anvil.stop()
        connections.close_all()


# --- (c) ------------------------------------------------------------------------------------


def measured(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run the CLI with `argv` in a process of its own; its peak RSS, status and seconds."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, sys.executable, "-c", CLI, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result["status"] != 0:
        raise RuntimeError(f"printfair {argv} exited {result['status']}: {result['stderr']}")
    return result


def cli_env(server_url: str, token: str, home: Path, rpc: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PRINTFAIR_", "DJANGO_", "CHAIN_"))
    }
    return {
        **env,
        "PRINTFAIR_API": server_url,
        "PRINTFAIR_API_KEY": token,
        "PRINTFAIR_HOME": str(home),
        "PRINTFAIR_PASSPHRASE": PASSPHRASE,
        "PRINTFAIR_RPC": rpc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--small-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if missing := missing_tools():
        sys.exit(f"bench.design_get compares with {' and '.join(missing)}: install it first")
    with tempfile.TemporaryDirectory(prefix="printfair-bench-") as scratch_name:
        scratch = Path(scratch_name)
        big_stl, small_stl = scratch / "big_part.stl", scratch / "small_part.stl"
        make_stl(big_stl, args.size_mib * MiB, seed=7)
        make_stl(small_stl, args.small_mib * MiB, seed=8)
        bench = Bench(scratch)
        bench.start()
        try:
            setup_started = time.perf_counter()
            big, small = bench.release(big_stl), bench.release(small_stl)
            setup_seconds = time.perf_counter() - setup_started
            big_stl.unlink()
            results = measure(bench, big, small, args.rounds, scratch)
        finally:
            bench.stop()
    results = {"size_mib": args.size_mib, "setup_s": round(setup_seconds, 1), **results}
    report(results, args)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "design_get.json").write_text(json.dumps(results, indent=2) + "\n")


def measure(
    bench: Bench, big: Released, small: Released, rounds: int, scratch: Path
) -> dict[str, Any]:
    out, plain_target = scratch / "out", scratch / "plain.pfenc"
    out.mkdir()
    size_mb = big.ciphertext_bytes / MiB
    server = Server(bench.env)
    try:
        url = f"http://127.0.0.1:{server.port}"

        def cli(released: Released) -> Timing:
            timing = cli_download(url, bench.token, bench.home, PASSPHRASE, released.job, out)
            (out / released.name).unlink()
            return timing

        def plain(released: Released) -> Timing:
            size = released.ciphertext_bytes
            return plain_download(url, bench.token, released.file_id, size, plain_target)

        def curl(released: Released) -> Timing:
            size = released.ciphertext_bytes
            return curl_and_sha256sum(url, bench.token, released.file_id, size, plain_target)

        contenders: list[tuple[str, Callable[[Released], Timing]]] = [
            ("cli", cli),
            ("plain", plain),
            ("curl_sha256sum", curl),
        ]
        timings: dict[str, list[Timing]] = {name: [] for name, _ in contenders}
        settle_writes(drop_caches=True)
        for _, run in contenders:  # warm up the worker, and read the files into the cache again
            run(small)
            run(big)
        load_before = os.getloadavg()[0]
        for round_ in range(rounds):
            turn = round_ % len(contenders)  # each goes first, second and last in turn
            for name, run in contenders[turn:] + contenders[:turn]:
                settle_writes(say=False)  # what the one before left (little: files deleted)
                timings[name].append(run(big))
                plain_target.unlink(missing_ok=True)
        load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        env = cli_env(url, bench.token, bench.home, bench.anvil.url)
        folder = str(scratch / "cli-out")
        baseline = measured(["--version"], env)
        small_run = measured(["design", "get", str(small.job), "-o", folder, "--quiet"], env)
        big_run = measured(["design", "get", str(big.job), "-o", folder, "--quiet"], env)
    finally:
        server.stop()
    if file_sha256(Path(folder) / big.name) != big.sha256:
        raise RuntimeError("the command saved another file than the design")

    def mb_s(name: str, seconds: Callable[[Timing], float] = lambda t: t.seconds) -> float:
        return statistics.median(size_mb / seconds(t) for t in timings[name])

    def cpu_s(name: str) -> float:
        return statistics.median(t.cpu_seconds for t in timings[name])

    cli_mb_s, plain_mb_s, curl_mb_s = mb_s("cli"), mb_s("plain"), mb_s("curl_sha256sum")
    refs = references(big.ciphertext_bytes)
    writes = durable_writes(big.ciphertext_bytes, scratch)
    best_write = max(writes.get("write_direct_mb_s", 0), writes["write_cached_mb_s"])
    base_mib = baseline["maxrss_kib"] / 1024
    small_mib, big_mib = small_run["maxrss_kib"] / 1024, big_run["maxrss_kib"] / 1024
    return {
        "ciphertext_bytes": big.ciphertext_bytes,
        "rounds": rounds,
        "load_average_1min": load,
        "cli_mb_s": round(cli_mb_s, 1),
        "plain_mb_s": round(plain_mb_s, 1),
        "ratio": round(cli_mb_s / plain_mb_s, 3),
        "curl_sha256sum_mb_s": round(curl_mb_s, 1),
        "ratio_to_curl_sha256sum": round(cli_mb_s / curl_mb_s, 2),
        "cpu_ratio_to_curl_sha256sum": round(cpu_s("curl_sha256sum") / cpu_s("cli"), 2),
        "curl_alone_mb_s": round(mb_s("curl_sha256sum", lambda t: t.steps[0]), 1),
        "sha256sum_alone_mb_s": round(mb_s("curl_sha256sum", lambda t: t.steps[1]), 1),
        **{
            f"rounds_{name}_mb_s": [round(size_mb / t.seconds, 1) for t in runs]
            for name, runs in timings.items()
        },
        **{f"{name}_cpu_s": round(cpu_s(name), 3) for name in timings},
        **{k: round(v, 3 if k.endswith("cpu_s") else 1) for k, v in refs.items()},
        **{k: round(v, 1) for k, v in writes.items()},
        "ratio_ceiling": round(min(refs["sha256_mb_s"], best_write) / plain_mb_s, 3),
        "command_s": round(big_run["seconds"], 2),
        "command_mb_s": round(size_mb / big_run["seconds"], 1),
        "small_design_bytes": small.size_bytes,
        "peak_rss_baseline_mib": round(base_mib, 1),
        "peak_rss_small_design_mib": round(small_mib, 1),
        "peak_rss_big_design_mib": round(big_mib, 1),
        "peak_rss_above_baseline_mib": round(big_mib - base_mib, 1),
        "peak_rss_big_minus_small_mib": round(big_mib - small_mib, 1),
    }


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    size, small = args.size_mib, args.small_mib

    def row(label: str, value: float, unit: str, note: str = "") -> None:
        print(f"  {label:<38}{value:9.1f} {unit}{'   ' + note if note else ''}")

    def ratio(label: str, value: float, goal: float) -> None:
        print(f"  {'    ' + label:<38}{value:9.3f}        (goal >= {goal})")

    before, after = results["load_average_1min"]
    print(
        f"printfair design get of a {size} MiB STL over loopback (gunicorn, 1 sync worker), "
        f"median of {results['rounds']} (load average {before} before, {after} after):"
    )
    row("(a) CLI download + decrypt + checks", results["cli_mb_s"], "MB/s")
    row("    its CPU, both threads", results["cli_cpu_s"] * 1000, "ms")
    row("(b) plain download (requests)", results["plain_mb_s"], "MB/s")
    row("    its CPU", results["plain_cpu_s"] * 1000, "ms")
    ratio("ratio (a)/(b)", results["ratio"], RATIO_GOAL)
    row("(d) curl -o, then sha256sum", results["curl_sha256sum_mb_s"], "MB/s")
    row("    curl alone", results["curl_alone_mb_s"], "MB/s")
    row("    sha256sum alone", results["sha256sum_alone_mb_s"], "MB/s")
    row("    their CPU", results["curl_sha256sum_cpu_s"] * 1000, "ms")
    ratio("ratio (a)/(d)", results["ratio_to_curl_sha256sum"], CURL_SHA256SUM_GOAL)
    print(f"  {'      in CPU time, (d)/(a)':<38}{results['cpu_ratio_to_curl_sha256sum']:9.3f}")
    row("    SHA-256 alone, in process", results["sha256_mb_s"], "MB/s", "(caps (a))")
    row("      its CPU", results["sha256_cpu_s"] * 1000, "ms")
    print(f"  {'      its ratio to (b)':<38}{results['ratio_ceiling']:9.3f}        (the ceiling)")
    for key, label in (
        ("write_direct_mb_s", "the part kept, O_DIRECT + fsync"),
        ("write_cached_mb_s", "the part kept, page cache + fsync"),
    ):
        if key in results:
            row(f"    {label}", results[key], "MB/s", "(alone: caps (a) too)")
    row("    AES-256-GCM alone, in process", results["aes_gcm_mb_s"], "MB/s")
    row("    both in one thread", results["sha256_and_aes_one_thread_mb_s"], "MB/s")
    row(
        "    the whole command, as a process",
        results["command_mb_s"],
        "MB/s",
        f"({results['command_s']} s: start, keys, chain check, cleanup)",
    )
    print("  (c) peak RSS of the command's process:")
    row("    interpreter + CLI loaded", results["peak_rss_baseline_mib"], "MiB")
    row(f"    design get, {small} MiB design", results["peak_rss_small_design_mib"], "MiB")
    row(f"    design get, {size} MiB design", results["peak_rss_big_design_mib"], "MiB")
    row(
        "    above the baseline",
        results["peak_rss_above_baseline_mib"],
        "MiB",
        f"(goal < {MEMORY_GOAL_MIB})",
    )
    row(
        f"    {size} MiB design minus {small} MiB",
        results["peak_rss_big_minus_small_mib"],
        "MiB",
        "(goal: about 0)",
    )


if __name__ == "__main__":
    main()
