"""The `printfair` CLI end to end: `main([...])` in this process against a live server, with the
published jobs, deployed contracts, real anvil and real sender of the `market` scenario
(tests/scenarios.py); the CLI's fixtures are in tests/printfair/conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.conf import settings
from django.test import Client
from django.urls import reverse
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector

from ledger.anvil import free_port
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import ChainTx
from ledger.services.indexer import index_chain
from marketplace.models import Job, Order, User
from printfair.cli.chainread import (
    REGISTRATION,
    REGISTRATION_BY,
    _decode_registration,
    _decode_uint64,
)
from printfair.cli.commands import reveal as reveal_command
from printfair.cli.errors import CliError
from printfair.cli.keyfile import SCRYPT_N, create_keyfile, load_keyfile
from printfair.cli.state import LocalBid, LocalBids, utc_now
from printfair.eip712 import Bid as SealedBid
from printfair.envelope import new_data_key
from printfair.hpke import unwrap_for_shop, wrap_for_shop
from printfair.keys import HpkeKem
from printshops.models import Bid, PrintShopProfile
from printshops.services import api_key_create
from tests import factories
from tests.printfair.cli_faults import faulty_proxy
from tests.scenarios import (
    BIDDING_SECONDS,
    NOT_FOR_DESIGN_GET,
    PASSPHRASE,
    Run,
    chain_bid,
    chain_reveal,
    drain,
    funded,
    loaded_libraries,
    pass_deadline,
    post,
    settle,
    win_with_the_cli,
)

# A keys file as the CLI wrote them before hybrid keys (format version 1, light KDF, PASSPHRASE).
KEYS_V1 = Path(__file__).parent / "data" / "keys-v1.json"
NETWORK_AND_CRYPTO = {"requests", "urllib3", "cryptography", "eth_hash", "Crypto", "cffi"}


def local_bid(home: Path, market: dict[str, Any], job: Job) -> LocalBid | None:
    return LocalBids(home).get(settings.CHAIN_ID, market["house"], job.pk)


def shop_bid(shop: User, job: Job) -> Bid:
    return Bid.objects.get(job=job, organization=shop.organization)


def test_keys_are_encrypted_never_overwritten_and_need_the_passphrase(
    live_server: Any, stranger: User, home: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # when
    status, out, _ = run("keys", "init")
    # then: one private file, a standard scrypt keystore and a sealed HPKE key
    path = home / "keys.json"
    assert status == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["ethereum"]["crypto"]["kdf"] == "scrypt"
    assert data["ethereum"]["crypto"]["kdfparams"]["n"] == SCRYPT_N
    key = Account.decrypt(data["ethereum"], PASSPHRASE)
    address = Account.from_key(key).address
    assert f"Address:  {address}" in out
    keys = load_keyfile(path)
    assert (data["version"], keys.hpke_kem) == (1, HpkeKem.X25519)  # the default, as before
    hpke_private = keys.unlock_hpke(PASSPHRASE)
    assert isinstance(hpke_private, X25519PrivateKey)
    assert hpke_private.public_key().public_bytes_raw() == keys.hpke_public_key
    text = path.read_text()
    assert key.hex() not in text and hpke_private.private_bytes_raw().hex() not in text
    # never overwritten without --force
    status, _, err = run("keys", "init")
    assert status == 1 and "already exists" in err
    assert path.read_text() == text
    # registering needs the passphrase; a shop registers its keys before it is verified
    _, token = api_key_create(actor=stranger, name="cli", expires_at=None)
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)
    monkeypatch.setenv("PRINTFAIR_API_KEY", token)
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", "not the passphrase")
    status, _, err = run("keys", "register")
    assert status == 1 and f"wrong passphrase for the keys in {path}" in err
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", PASSPHRASE)
    status, out, _ = run("keys", "register")
    assert status == 0 and f"Registered {address}" in out and "not verified yet" in out
    profile = PrintShopProfile.objects.get(organization=stranger.organization)
    assert profile.eth_address == address
    assert bytes(profile.hpke_public_key or b"") == keys.hpke_public_key
    # no passphrase and no terminal to ask on: a usage error, never a hang
    monkeypatch.delenv("PRINTFAIR_PASSPHRASE")
    status, _, err = run("keys", "init", "--force", "--light-kdf")
    assert status == 2 and "PRINTFAIR_PASSPHRASE" in err
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", "short")
    status, _, err = run("keys", "init", "--force", "--light-kdf")
    assert status == 2 and "at least 8 characters" in err
    assert path.read_text() == text
    # --force replaces them
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", PASSPHRASE)
    assert run("keys", "init", "--force", "--light-kdf")[0] == 0
    assert load_keyfile(path).address != address


@pytest.mark.parametrize(
    ("kem", "version", "secret_size"),
    [(HpkeKem.X25519, 1, 32), (HpkeKem.MLKEM768_X25519, 2, 64 + 32)],
    ids=["x25519", "mlkem768-x25519"],
)
def test_keys_files_round_trip_for_each_kem(
    tmp_path: Path, kem: HpkeKem, version: int, secret_size: int
) -> None:
    # given: keys made and written
    path = tmp_path / "keys.json"
    made = create_keyfile(path, PASSPHRASE, force=False, light=True, kem=kem)
    # when: read back
    keys = load_keyfile(path)
    # then: the same public parts; the sealed HPKE secret is the key's parts (for the hybrid,
    # the ML-KEM-768 seed and the X25519 key), in the oldest version that holds them
    data = json.loads(path.read_text())
    assert (keys.address, keys.hpke_kem, keys.hpke_public_key) == (
        made.address,
        kem,
        made.hpke_public_key,
    )
    assert data["version"] == version and data["hpke"]["kem"] == kem.value
    assert len(bytes.fromhex(data["hpke"]["private_key"]["ciphertext"])) == secret_size + 16
    # the unlocked key opens what is wrapped to the public key
    data_key = new_data_key()
    wrapped = wrap_for_shop(
        data_key, kem=kem, public_key=keys.hpke_public_key, job_id=3, shop_id=5, file_id=b"f"
    )
    private_key = keys.unlock_hpke(PASSPHRASE)
    opened = unwrap_for_shop(
        wrapped, kem=kem, private_key=private_key, job_id=3, shop_id=5, file_id=b"f"
    )
    assert opened == data_key
    assert keys.unlock_ethereum(PASSPHRASE).address == keys.address
    # a wrong passphrase, and a sealed key swapped for another file's, open nothing
    with pytest.raises(CliError, match="wrong passphrase"):
        keys.unlock_hpke("not the passphrase")
    other = create_keyfile(tmp_path / "other.json", PASSPHRASE, force=False, light=True, kem=kem)
    data["hpke"]["private_key"] = json.loads(other.path.read_text())["hpke"]["private_key"]
    path.write_text(json.dumps(data))
    with pytest.raises(CliError, match="wrong passphrase"):
        load_keyfile(path).unlock_hpke(PASSPHRASE)


def test_keys_files_of_version_1_still_open(tmp_path: Path) -> None:
    # given: a keys file written by the CLI before hybrid keys
    path = tmp_path / "keys.json"
    path.write_text(KEYS_V1.read_text())
    # when
    keys = load_keyfile(path)
    # then: both keys open with the passphrase
    assert keys.address == "0xF0c92765D46A8afcc6C1a975F0ec85eB159079Db"
    assert keys.hpke_kem == HpkeKem.X25519
    assert keys.unlock_ethereum(PASSPHRASE).address == keys.address
    hpke_private = keys.unlock_hpke(PASSPHRASE)
    assert isinstance(hpke_private, X25519PrivateKey)
    assert hpke_private.public_key().public_bytes_raw() == keys.hpke_public_key
    # version 1 never held hybrid keys; and a version from the future is refused plainly
    data = json.loads(KEYS_V1.read_text())
    for version, kem in ((1, "mlkem768-x25519"), (3, "x25519")):
        changed = {**data, "version": version, "hpke": {**data["hpke"], "kem": kem}}
        path.write_text(json.dumps(changed))
        with pytest.raises(CliError, match="is not a PrintFair keys file this version reads"):
            load_keyfile(path)


def test_the_registry_is_asked_and_answered_as_eth_abi_would() -> None:
    # chainread spares the CLI eth_abi: its selector and decoding must be eth_abi's
    assert function_signature_to_4byte_selector("registration(bytes32)") == REGISTRATION
    selector = function_signature_to_4byte_selector("registrationBy(bytes32,bytes32)")
    assert selector == REGISTRATION_BY
    owner_ref = bytes(range(32))
    answers = [
        owner_ref + (1_700_000_000).to_bytes(32, "big"),
        owner_ref + (2**64 - 1).to_bytes(32, "big") + b"trailing data",
        bytes(64),
    ]
    for answer in answers:
        assert _decode_registration(answer) == abi_decode(["bytes32", "uint64"], answer)
    for bad in (b"", bytes(63), owner_ref + (2**64).to_bytes(32, "big")):
        with pytest.raises(ValueError):
            _decode_registration(bad)
        with pytest.raises(Exception):  # noqa: B017 - eth_abi's DecodingError, refused alike
            abi_decode(["bytes32", "uint64"], bad)
    for answer in answers:
        assert (_decode_uint64(answer[32:]),) == abi_decode(["uint64"], answer[32:])
    for bad in (b"", bytes(31), (2**64).to_bytes(32, "big")):
        with pytest.raises(ValueError):
            _decode_uint64(bad)


def test_the_commands_load_only_the_libraries_they_use() -> None:
    # Every command module is imported to build the parser: none may load a heavy library then.
    assert loaded_libraries("--help").isdisjoint(NOT_FOR_DESIGN_GET | NETWORK_AND_CRYPTO)


def test_the_cli_runs_without_django() -> None:
    # A shop installs it on its own machine: printfair/ must not pull in the server's apps.
    code = (
        "import sys; from printfair.cli import main; main(['--version']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'rest_framework', "
        "'config', 'marketplace', 'printshops', 'ledger'}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert done.stdout.startswith("printfair ")


def test_usage_errors_and_an_unreachable_server(home: Path, run: Run) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    status, _, err = run("jobs", "list", "--api", nowhere)
    assert status == 2 and "no API key" in err
    status, _, err = run("jobs", "list", "--api", nowhere, "--api-key", "pf_0a1b_secret")
    assert status == 1 and f"cannot reach PrintFair at {nowhere}" in err
    status, _, err = run("--api", "ftp://printfair.example", "jobs", "list")
    assert status == 2 and "API URL" in err
    status, _, err = run("bid", "7", "--price", "cheap", "--lead-days", "5")
    assert status == 2 and "not a price" in err
    status, _, err = run("bid", "7", "--price", "-3", "--lead-days", "5")
    assert status == 2 and "not a positive price" in err
    assert run("reveal")[0] == 2
    assert run("jobs", "list", "--fits", "300", "300")[0] == 2


def test_a_bad_api_key_is_refused(live_server: Any, home: Path, run: Run) -> None:
    status, _, err = run("jobs", "list", "--api", live_server.url, "--api-key", "pf_0a1b_wrong")
    assert status == 1
    assert "Unknown API key." in err and "PRINTFAIR_API_KEY" in err


def test_register_list_bid_rebid_and_reveal(
    shop_cli: dict[str, Any], winning_shop: User, home: Path, run: Run
) -> None:
    market, address = shop_cli, shop_cli["address"]
    job, other = market["jobs"]
    # keys register: the server has the CLI's address
    profile = PrintShopProfile.objects.get(organization=winning_shop.organization)
    assert profile.eth_address == address
    assert json.loads(run("keys", "show", "--json")[1])["address"] == address
    # jobs list: a table, JSON and the server's filters
    status, out, _ = run("jobs", "list")
    assert status == 0 and job.title in out and other.title in out
    assert "reserve" in out.splitlines()[0]
    listed = json.loads(run("jobs", "list", "--json")[1])
    assert [j["id"] for j in listed] == [job.pk, other.pk]
    assert json.loads(run("jobs", "list", "--json", "--process", "fdm")[1]) == []
    assert json.loads(run("jobs", "list", "--json", "--fits", "1", "1", "1")[1]) == []
    assert json.loads(run("jobs", "list", "--json", "--deadline-before", "2000-01-01")[1]) == []
    Job.objects.filter(pk=job.pk).update(required_characteristics=["Bore diameter", "Flatness"])
    status, out, _ = run("jobs", "show", str(job.pk))
    assert status == 0 and "star_binary.stl" in out and job.files.get().sha256 in out
    # ... with everything --json has that decides a bid: the quality gate among it
    assert "quality gate:       Bore diameter, Flatness" in out
    assert "machine-attested:   not required" in out
    assert "funding window:     72 h after the award, then the award expires" in out
    # a lead time that could not win is refused before it is sealed (the reveal would fail)
    longest = Job.objects.get(pk=job.pk).max_lead_time_days
    status, _, err = run("bid", str(job.pk), "--price", "400", "--lead-days", str(longest + 1))
    assert status != 0 and f"at most {longest} days" in err and local_bid(home, market, job) is None
    status, _, err = run("bid", str(job.pk), "--price", "400", "--lead-days", "0")
    assert status != 0 and "from 1 up" in err
    # when: a sealed bid
    status, out, err = run("bid", str(job.pk), "--price", "400", "--lead-days", "10")
    # then: stored with the commitment of the price, lead time and salt kept here
    assert status == 0, err
    saved = local_bid(home, market, job)
    assert saved is not None and [v.state for v in saved.versions] == ["accepted"]
    first = saved.versions[0]
    salt = bytes.fromhex(first.salt[2:])
    expected = SealedBid(job.pk, address, 400_000_000, 10, salt).commitment()
    bid = shop_bid(winning_shop, job)
    assert (bid.version, bid.commitment) == (1, "0x" + expected.hex())
    assert f"Commitment: {bid.commitment}" in out
    assert "Relay to the AuctionHouse: pending" in out
    # a new bid replaces it as version 2
    status, out, _ = run("bid", str(job.pk), "--price", "390.25", "--lead-days", "12")
    assert status == 0 and "version 2" in out
    saved = local_bid(home, market, job)
    assert saved is not None
    second = saved.versions[1]
    bid = shop_bid(winning_shop, job)
    assert (bid.version, bid.commitment) == (2, second.commitment)
    assert second.price == 390_250_000 and second.salt != first.salt
    # bids: the sealed price is known here only
    status, out, _ = run("bids")
    assert status == 0 and "390.25 (sealed)" in out and bid.price is None
    drain()
    assert "0x" + chain_bid(job.pk, address)["commitment"].hex() == second.commitment[:58]
    # when: bidding closes and the shop reveals
    pass_deadline(market, job, "commit_deadline")
    status, out, err = run("reveal", str(job.pk))
    # then: revealed on the server, and on chain once the sender ran
    assert status == 0, err
    assert "390.25" in out
    bid.refresh_from_db()
    assert bid.status == Bid.Status.REVEALED and bid.price == 390_250_000
    assert bid.lead_time_days == 12
    drain()
    reveal_tx = ChainTx.objects.get(function="reveal")
    assert reveal_tx.status == ChainTx.Status.FINAL, reveal_tx.error
    assert chain_reveal(job.pk, address) == (390_250_000, 12)
    (listed_bid,) = json.loads(run("bids", "--json")[1])
    assert listed_bid["price"] == "390.25" and listed_bid["price_revealed"] is True
    assert listed_bid["relay"]["status"] == ChainTx.Status.FINAL
    assert listed_bid["reveal_relay"]["status"] == ChainTx.Status.FINAL
    assert listed_bid["title"] == job.title and listed_bid["reveal_deadline"]
    # the reveal counts once the indexer has the final BidRevealed event
    assert listed_bid["revealed_on_chain"] is False
    index_chain()
    (listed_bid,) = json.loads(run("bids", "--json")[1])
    assert listed_bid["revealed_on_chain"] is True
    assert "on chain" in run("bids")[1]
    # revealing again is harmless
    status, out, _ = run("reveal", str(job.pk))
    assert status == 0 and "already revealed" in out


def test_reveal_all_reveals_what_is_due_without_a_passphrase(
    shop_cli: dict[str, Any],
    winning_shop: User,
    tmp_path: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market = shop_cli
    first, second = market["jobs"]
    # least privilege: a key to bid with, and one that can only reveal for cron
    _, bidding = api_key_create(
        actor=winning_shop, name="bid", expires_at=None, scopes=["jobs:read", "bids:write"]
    )
    _, cron = api_key_create(
        actor=winning_shop, name="cron", expires_at=None, scopes=["bids:write"]
    )
    monkeypatch.setenv("PRINTFAIR_API_KEY", bidding)
    for job in (first, second):
        assert run("bid", str(job.pk), "--price", "410.5", "--lead-days", "9")[0] == 0
    drain()
    # before bidding closes, the run says when each reveal window opens
    status, out, _ = run("reveal", "--all")
    assert status == 0 and out.startswith(f"Nothing to reveal; job {first.pk} opens for reveals at")
    assert f"; job {second.pk} opens for reveals at" in out
    # cron: a bids-only key read from a file, no passphrase, and the local clock past both
    # bidding deadlines saved when bidding
    key_file = tmp_path / "cron-api-key"
    key_file.write_text(cron + "\n")
    monkeypatch.delenv("PRINTFAIR_API_KEY")
    monkeypatch.setenv("PRINTFAIR_API_KEY_FILE", str(key_file))
    monkeypatch.delenv("PRINTFAIR_PASSPHRASE")
    later = utc_now() + timedelta(seconds=BIDDING_SECONDS + 1)
    monkeypatch.setattr(reveal_command, "utc_now", lambda: later)
    pass_deadline(market, first, "commit_deadline")
    # when: the server still takes bids on the second job
    status, out, err = run("reveal", "--all")
    # then: the first is revealed, the second fails, and the run says so
    assert status == 1
    assert f"Job {first.pk}" in out
    assert f"job {second.pk}: Reveals open when bidding closes." in err
    assert shop_bid(winning_shop, first).status == Bid.Status.REVEALED
    assert shop_bid(winning_shop, second).status == Bid.Status.COMMITTED
    # once bidding closes there too, the next run reveals it, and then there is nothing left
    pass_deadline(market, second, "commit_deadline")
    status, out, _ = run("reveal", "--all")
    assert status == 0 and f"Job {second.pk}" in out and f"Job {first.pk}" not in out
    assert shop_bid(winning_shop, second).price == 410_500_000
    assert run("reveal", "--all") == (0, "Nothing to reveal.\n", "")
    assert run("reveal", "--all", "--quiet") == (0, "", "")
    drain()
    reveals = ChainTx.objects.filter(function="reveal")
    assert reveals.count() == 2
    assert {tx.status for tx in reveals} == {ChainTx.Status.FINAL}


def test_refused_bids_are_explained_and_kept_apart(
    shop_cli: dict[str, Any],
    winning_shop: User,
    customer: User,
    home: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market = shop_cli
    job = market["jobs"][0]
    # a job that is not open, and a price finer than the token's smallest unit
    draft = factories.JobFactory.create(created_by=customer)
    status, _, err = run("bid", str(draft.pk), "--price", "400", "--lead-days", "10")
    assert status == 1 and f"job {draft.pk} is not open for bids" in err
    status, _, err = run("bid", str(job.pk), "--price", "400.0000001", "--lead-days", "10")
    assert status == 2 and "more than 6 decimal places" in err
    # a wrong passphrase signs nothing
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", "not the passphrase")
    status, _, err = run("bid", str(job.pk), "--price", "400", "--lead-days", "10")
    assert status == 1 and "wrong passphrase" in err
    assert local_bid(home, market, job) is None and not Bid.objects.exists()
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", PASSPHRASE)
    # when: PrintFair refuses the bid (the shop no longer offers the process)
    PrintShopProfile.objects.filter(organization=winning_shop.organization).update(
        processes=["dmls"]
    )
    status, _, err = run("bid", str(job.pk), "--price", "400", "--lead-days", "10")
    # then: its message is shown, and the version kept here is marked refused
    assert status == 1 and "Your shop cannot bid on this job: your shop does not offer SLS" in err
    saved = local_bid(home, market, job)
    assert saved is not None
    (refused,) = saved.versions
    assert refused.state == "refused" and "does not offer SLS" in (refused.error or "")
    status, out, _ = run("bids")
    assert status == 0 and "refused: Your shop cannot bid" in out
    # nothing to reveal for a bid PrintFair does not hold
    status, _, err = run("reveal", str(job.pk))
    assert status == 1 and "has no bid of this shop" in err
    status, _, err = run("reveal", str(market["jobs"][1].pk))
    assert status == 1 and "no bid on job" in err
    # keys made here but not registered cannot sign the shop's bids
    PrintShopProfile.objects.filter(organization=winning_shop.organization).update(
        processes=["sls"]
    )
    assert run("keys", "init", "--force", "--light-kdf")[0] == 0
    status, _, err = run("bid", str(job.pk), "--price", "400", "--lead-days", "10")
    assert status == 1 and "run `printfair keys register` first" in err


def test_a_bid_whose_answer_was_lost_keeps_its_salt(
    shop_cli: dict[str, Any],
    live_server: Any,
    winning_shop: User,
    home: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market = shop_cli
    first, second = market["jobs"]
    with faulty_proxy(live_server.url) as (url, faults):
        monkeypatch.setenv("PRINTFAIR_API", url)
        faults.plan("POST", f"/api/v1/jobs/{first.pk}/bids/", "drop_answer")
        faults.plan("POST", f"/api/v1/jobs/{second.pk}/bids/", "drop_request")
        # when: one bid goes in unheard of, the other never arrives
        for job in (first, second):
            status, _, err = run("bid", str(job.pk), "--price", "420", "--lead-days", "7")
            assert status == 1
            assert "broke before it answered" in err and "The bid may have gone in" in err
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)
    # then: both salts were kept; PrintFair has the first bid only
    kept = [local_bid(home, market, job) for job in (first, second)]
    assert [bid.versions[0].state if bid else None for bid in kept] == ["sending", "sending"]
    assert kept[0] is not None
    assert shop_bid(winning_shop, first).commitment == kept[0].versions[0].commitment
    assert not Bid.objects.filter(job=second).exists()
    listed = {b["job"]: b for b in json.loads(run("bids", "--json")[1])}
    assert listed[first.pk]["status"] == "committed" and listed[first.pk]["price"] == "420.00"
    assert listed[second.pk]["status"] == "unconfirmed"
    drain()
    # when bidding closes: the first opens with its kept salt, the second is known lost
    for job in (first, second):
        pass_deadline(market, job, "commit_deadline")
    later = utc_now() + timedelta(seconds=BIDDING_SECONDS + 1)
    monkeypatch.setattr(reveal_command, "utc_now", lambda: later)
    status, _, err = run("reveal", "--all")
    assert status == 1 and f"job {second.pk}: PrintFair has no bid of this shop" in err
    assert shop_bid(winning_shop, first).price == 420_000_000
    lost = local_bid(home, market, second)
    assert lost is not None and lost.versions[0].state == "refused"
    assert run("reveal", "--all") == (0, "Nothing to reveal.\n", "")


def test_the_winner_withdraws_its_payout_with_the_cli(
    shop_cli: dict[str, Any],
    customer: User,
    winning_shop: User,
    run: Run,
    login: Callable[[User | None], Client],
) -> None:
    market, address = shop_cli, shop_cli["address"]
    job = market["jobs"][0]
    win_with_the_cli(market, run, job)
    # the bid says it won
    status, out, _ = run("bids")
    assert status == 0 and " won" in out.splitlines()[-1]
    assert json.loads(run("bids", "--json")[1])[0]["outcome"] == "won"
    # nothing to withdraw before the customer accepts
    status, _, err = run("withdraw")
    assert status == 1 and "Nothing to withdraw" in err
    browser = login(customer)
    funded(job, browser)
    status, out, _ = run("orders")
    assert status == 0 and "funded" in out and "400.00" in out
    # (the stage in the job statuses' names, as the pages' stepper says it)
    assert json.loads(run("orders", "--json")[1])[0]["stage"] == "funded"
    status, out, _ = run("deliver", str(job.pk))
    assert status == 0 and "recorded" in out
    settle()
    assert Order.objects.get(job=job).status == Order.Status.DELIVERED
    assert "Accepted" in post(browser, "order_accept", job)
    settle()
    assert json.loads(run("orders", "--json")[1])[0]["stage"] == "accepted"
    status, out, _ = run("payouts")
    assert status == 0 and address in out and "To withdraw  390.00  (printfair withdraw)" in out
    status, out, err = run("withdraw")
    assert status == 0, err
    assert f"Withdrawing 390.00 to {address}" in out
    drain()  # mined; its payout waits for the indexer
    out = run("payouts")[1]
    assert "To withdraw  0.00\n" in out and "Withdrawing  the balance: final in block" in out
    settle()
    token = contract(web3_client(), "TestStablecoin")
    assert token.functions.balanceOf(address).call() == 390_000_000
    state = json.loads(run("payouts", "--json")[1])
    assert state["pending"] == "0" and state["payouts"][0]["amount"] == "390000000"
    assert "To withdraw  0.00\n" in run("payouts")[1]


def test_anyone_checks_a_design_against_the_chain_without_an_account(
    market: dict[str, Any],
    live_server: Any,
    home: Path,
    run: Run,
    testdata: Path,
    tmp_path: Path,
    customer: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the market's designs registered on chain, and final
    index_chain()
    star = testdata / "stl" / "star_binary.stl"
    sha256 = hashlib.sha256(star.read_bytes()).hexdigest()
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)  # publishes the registry; no key
    # when: a registered file is checked against the node
    status, out, err = run("verify-design", str(star), "--rpc", market["url"])
    # then
    assert status == 0, err
    assert out.startswith(f"Registered: {star} existed by ") and sha256 in out
    status, out, _ = run("verify-design", str(star), "--rpc", market["url"], "--json")
    checked = json.loads(out)
    registry = contract(web3_client(), "DesignRegistry")
    owner_ref, timestamp = registry.functions.registration(bytes.fromhex(sha256)).call()
    assert checked["registered"] is True and checked["registry"] == registry.address
    assert checked["registered_at"] == datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
    assert checked["owner_ref"] == "0x" + owner_ref.hex()
    # the owner's own registration, by the reference its design page shows it
    assert customer.organization is not None
    own = customer.organization.owner_ref
    status, out, err = run("verify-design", str(star), "--rpc", market["url"], "--owner", own)
    assert status == 0 and f"existed by {datetime.fromtimestamp(timestamp, tz=UTC):%Y-%m-%d}" in out
    status, _, err = run(
        "verify-design", str(star), "--rpc", market["url"], "--owner", "0x" + "ab" * 32
    )
    assert status == 3 and "is not registered by owner 0xabab" in err
    status, _, err = run("verify-design", str(star), "--rpc", market["url"], "--owner", "0x12")
    assert status == 2 and "is not an owner reference" in err
    # a file nobody registered fails the check (exit status 3), with the registry given
    other = tmp_path / "other.stl"
    other.write_bytes(star.read_bytes() + b"\n")
    status, _, err = run(
        "verify-design", str(other), "--rpc", market["url"], "--registry", registry.address
    )
    assert status == 3 and "is not registered" in err
    # mistakes are explained
    assert run("verify-design", str(star))[0] == 2  # no node
    status, _, err = run(
        "verify-design", str(star), "--rpc", market["url"], "--registry", customer.email
    )
    assert status == 2 and "not an Ethereum address" in err
    status, _, err = run(
        "verify-design", str(star), "--rpc", market["url"], "--registry", "0x" + "00" * 19 + "01"
    )
    assert status == 1 and "there is no contract at" in err
    # the public proof page, for a visitor with no account: chain facts, never the owner's name
    page = Client().get(reverse("design_proof", args=[sha256]))
    assert page.status_code == 200
    text = page.content.decode()
    assert customer.organization.name not in text and own in text
    assert sha256 in text and registry.address in text and "printfair verify-design" in text
    # its owner sees its organisation's name, and the command that checks its own registration
    owner = Client()
    owner.force_login(customer)
    text = owner.get(reverse("design_proof", args=[sha256])).content.decode()
    assert customer.organization.name in text and f"--owner {own}" in text
    assert Client().get(reverse("design_proof", args=["ab" * 32])).status_code == 404
