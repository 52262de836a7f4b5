"""What every benchmark needs: a scratch database and settings (bench/settings.py), migrated,
with Django set up in this process and the same environment for any server it starts."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def settle_writes(*, drop_caches: bool = False, say: bool = True) -> None:
    """Write out the dirty pages that earlier work left (an earlier benchmark's database and
    files, this one's inputs) before measuring, and say how much there was: the kernel would
    otherwise write them back during the measurement, and throttle whichever process writes
    then (bench.upload's later rounds ran at the speed of the earlier rounds' writeback).

    With `drop_caches` (and root), drop the clean page cache too, so that a benchmark starts
    from the same memory whatever ran before it; the caller warms up what it reads afterwards.
    On this machine (a VM whose memory the host reclaims: DAMON's pageout and a virtio
    balloon), after bench.bids left 2.4 GB of cache `design get` took 921 ms of CPU where it
    took 346 ms once the cache was dropped, and the plain download it is compared with did not
    change (110 and 92 ms): that is the machine's state, not the command's cost."""
    dirty = _meminfo_kib("Dirty") + _meminfo_kib("Writeback")
    cached = _meminfo_kib("Cached")
    started = time.perf_counter()
    os.sync()
    dropped = False
    if drop_caches:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("1\n")
            dropped = True
        except OSError:  # not root, or a read-only /proc/sys: measured as the machine is
            pass
    if say and (dirty >= 64 * 1024 or dropped):
        done = [f"wrote out {dirty / 1024:.0f} MiB of dirty pages"]
        if dropped:
            done.append(f"dropped {cached / 1024:.0f} MiB of page cache")
        print(
            f"  ({' and '.join(done)} left by earlier work, "
            f"in {time.perf_counter() - started:.1f} s, before measuring)",
            flush=True,
        )


def _meminfo_kib(field: str) -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0])
    return 0


def django_for_bench(scratch: Path, **extra_env: str) -> dict[str, str]:
    """Migrate a fresh database under `scratch`, set Django up here, and return the environment
    (with `extra_env`) that server processes of the benchmark should get."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PRINTFAIR_BENCH_DIR": str(scratch),
        "PRINTFAIR_KEKS": "1:" + base64.b64encode(os.urandom(32)).decode(),
        **extra_env,
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    return env


#: The chain id of the benchmarks' anvil.
BENCH_CHAIN_ID = 31337


def django_with_anvil(
    scratch: Path,
    *,
    finality: str = "depth:0",
    block_time: float | None = None,
    **extra_env: str,
) -> tuple[dict[str, str], Any]:
    """django_for_bench (with `extra_env`) for a fresh anvil of its own: a new mnemonic whose
    first account is the operator and last funded one the arbiter, a free port, its log under
    `scratch`, automine unless `block_time` is given. Returns the environment and the anvil
    (ledger.anvil.Anvil, not started)."""
    from eth_account import Account

    from ledger.anvil import free_port

    Account.enable_unaudited_hdwallet_features()
    operator, mnemonic = Account.create_with_mnemonic()
    # As config/settings/local.py: the AuctionHouse refuses one key in both roles.
    arbiter = Account.from_mnemonic(mnemonic, account_path="m/44'/60'/0'/0/9")
    port = free_port()
    os.environ.pop("CHAIN_OPERATOR_KEYSTORE", None)
    env = django_for_bench(
        scratch,
        **{
            "PRINTFAIR_VAR_DIR": str(scratch / "var"),
            "CHAIN_RPC_URL": f"http://127.0.0.1:{port}",
            "CHAIN_ID": str(BENCH_CHAIN_ID),
            "CHAIN_FEE_MODE": "eip1559",
            "CHAIN_FINALITY": finality,
            "CHAIN_OPERATOR_KEY": operator.key.hex(),
            "CHAIN_ARBITER_KEY": arbiter.key.hex(),
            **extra_env,
        },
    )
    from ledger.anvil import Anvil

    anvil = Anvil(
        mnemonic=mnemonic,
        chain_id=BENCH_CHAIN_ID,
        port=port,
        log=scratch / "anvil.log",
        block_time=block_time,
    )
    return env, anvil


def start_chain(anvil: Any) -> tuple[Any, Any, Any]:
    """Start the bench's anvil (the one the settings name) and deploy the contracts from the
    operator's account, as `deploy_contracts` does: the chain's config, the account and a
    client (ledger.chain.ChainConfig, LocalAccount, Web3)."""
    from django.conf import settings

    from ledger.chain import chain_config, operator_account, web3_client
    from ledger.contracts import deploy_all

    assert anvil.url == settings.CHAIN_RPC_URL, "the settings did not take CHAIN_RPC_URL"
    anvil.start()
    config, account = chain_config(), operator_account()
    w3 = web3_client(config)
    deploy_all(w3, account=account, config=config)
    return config, account, w3


def bench_job_spec(*, reserve: int, bidding: timedelta, revealing: timedelta) -> Any:
    """A plain SLS job's specification whose bidding closes after `bidding` and reveals after
    `bidding + revealing` (Django must be set up: see django_for_bench)."""
    from django.utils import timezone

    from marketplace.services import JobSpec

    now = timezone.now()
    return JobSpec(
        title="Bench bracket",
        description="",
        process="sls",
        material="pa12",
        quantity=1,
        spares=0,
        tolerance_mm=Decimal("0.2"),
        finish="as_printed",
        required_certifications=[],
        needed_by=(now + timedelta(days=30)).date(),
        reserve_price=Decimal(reserve),
        commit_deadline=now + bidding,
        reveal_deadline=now + bidding + revealing,
        pricing_rule="first_price",
    )


def funded_order(
    *, job: Any, shop: Any, shop_address: str, price: int = 100_000_000, lead_time_days: int = 10
) -> Any:
    """`job` awarded to the print shop organisation `shop` (its key at `shop_address`) with the
    escrow funded and the licence open, without running an auction: an Order row written
    directly (its award event a placeholder ChainEvent row) and
    `printshops.services.licence_open(order=...)`, the service the funding handler calls, which
    releases the job's design files to the shop and queues the licence on chain."""
    from django.db import transaction

    from ledger.contracts import contract_address
    from ledger.models import ChainEvent
    from marketplace.models import Order
    from printshops.services import licence_open

    with transaction.atomic():
        award = ChainEvent.objects.create(
            chain_id=BENCH_CHAIN_ID,
            block_number=0,
            block_hash="0x" + "00" * 32,
            log_index=job.pk,
            tx_hash="0x" + "00" * 32,
            contract="AuctionHouse",
            address=contract_address("AuctionHouse", BENCH_CHAIN_ID),
            name="AuctionFinalized",
            args={"note": "bench placeholder: no auction was run"},
            applied=True,
        )
        order = Order.objects.create(
            job=job,
            shop=shop,
            shop_address=shop_address,
            price=price,
            lead_time_days=lead_time_days,
            status=Order.Status.FUNDED,
            award_event=award,
        )
        licence_open(order=order)
    return order
