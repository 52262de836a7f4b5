"""The fixed cast (STYLE.md rule 10): customer, other customer, winning shop, losing shop,
stranger (an unverified shop) and admin; helpers to upload design files; the chain.

The scenarios built on them (`market`, `released`; tests/scenarios.py) and the real processes
(`servers`; tests/processes.py) are plugins: every test can ask for their fixtures by name."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ledger.anvil import Anvil, rpc
from ledger.breakers import breakers_reset
from ledger.models import Deployment
from marketplace.models import DesignFile, Job, User
from printshops.services import api_key_create
from tests import factories

pytest_plugins = [
    "tests.databases",
    "tests.scenarios",
    "tests.processes",
    "tests.octoprint_host",
    "tests.world",
]

# Hypothesis times each draw (HealthCheck.too_slow) and each example (`deadline`). On a shared
# 2-core machine that measures the neighbours, not the test: on a clean clone, the first draw of a
# text strategy, which builds Hypothesis's Unicode table, took 1.5 s and failed the suite. Speed
# is bench/'s to measure; every other health check stays.
hypothesis_settings.register_profile(
    "printfair", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
hypothesis_settings.load_profile("printfair")

# Real design files made by others (their README says whose); kept in the repository.
TESTDATA = Path(__file__).resolve().parent / "data" / "samples"

#: Fixtures that start real processes (a web server, Celery workers, supervisord, a browser,
#: OctoPrint): the tests that take them are the slowest.
PROCESS_FIXTURES = frozenset(
    {"live_server", "servers", "page", "workers", "stack", "octoprint_host"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`), tests that start processes are handed out first, so
    that no worker is still busy with a long one at the end while the others sit idle."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: PROCESS_FIXTURES.isdisjoint(item.fixturenames))


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the suite imported and collected lives until the end: out of the cyclic garbage
    collector's way (`gc.freeze`), which also runs on young objects less often. Its passes took a
    tenth of a pytest process's CPU (four test files: 4.2 of 37 s, of which 3.8 in passes over
    everything; with this 1.9 of 33 s)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture
def customer(db: None) -> User:
    return factories.customer("alice@acme.example", "Acme Drones")


@pytest.fixture
def other_customer(db: None) -> User:
    return factories.customer("bob@globex.example", "Globex")


@pytest.fixture
def winning_shop(db: None) -> User:
    return factories.print_shop("wendy@layers.example", "Layer Works")


@pytest.fixture
def losing_shop(db: None) -> User:
    return factories.print_shop("larry@slowprint.example", "Slow Print")


@pytest.fixture
def stranger(db: None) -> User:
    """A print shop nobody has verified."""
    return factories.print_shop("sid@unknown.example", "Unknown Prints", verified=False)


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_superuser(email="ada@printfair.example", password=factories.PASSWORD)


@pytest.fixture
def login() -> Callable[[User | None], Client]:
    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def draft_job(customer: User) -> Job:
    return factories.JobFactory.create(created_by=customer)


@pytest.fixture
def api_client() -> Callable[[User], Client]:
    """A client authenticated with a fresh API key of the given shop member."""

    def make(user: User) -> Client:
        _, token = api_key_create(actor=user, name="test", expires_at=None)
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    return make


@pytest.fixture
def testdata() -> Path:
    return TESTDATA


@pytest.fixture
def upload(login: Callable[[User | None], Client]) -> Callable[..., object]:
    """Upload files to a job through the real view and upload handler."""

    def send(user: User, job: Job, *files: tuple[str, bytes], htmx: bool = True) -> object:
        client = login(user)
        payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
        headers = {"HX-Request": "true"} if htmx else {}
        return client.post(reverse("design_file_upload", args=[job.pk]), payload, headers=headers)

    return send


@pytest.fixture
def stored_files(settings: Any) -> Callable[[], list[Path]]:
    """Every file in media storage (ciphertext blobs and in-flight parts)."""

    def files() -> list[Path]:
        root = Path(settings.MEDIA_ROOT)
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    return files


@pytest.fixture(autouse=True)
def _clean_media(settings: Any) -> Iterator[None]:
    """Media storage as the test found it: its files removed, and the folders it made (left
    behind, they would make every later test walk them all: the suite makes thousands)."""
    root = Path(settings.MEDIA_ROOT)
    found = set(root.rglob("*")) if root.exists() else set()
    yield
    for path in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
        if not path.is_dir() or path.is_symlink():
            path.unlink()
        elif path not in found:
            with contextlib.suppress(OSError):  # a file a server thread still writes
                path.rmdir()  # its contents came first, in reverse order


def files_of(job: Job) -> list[DesignFile]:
    return list(job.files.order_by("created_at"))


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    """A real anvil for the whole test session, on a free port, with accounts from the test
    settings' fresh mnemonic. Tests that change chain state use `chain`, which reverts it."""
    node = Anvil(
        mnemonic=django_settings.CHAIN_DEV_MNEMONIC,
        chain_id=django_settings.CHAIN_ID,
        log=tmp_path_factory.mktemp("anvil") / "anvil.log",
    ).start()
    with override_settings(CHAIN_RPC_URL=node.url):
        yield node
    node.stop()


@pytest.fixture
def chain(anvil_node: Anvil) -> Iterator[Anvil]:
    """The session's anvil, with every change a test makes to it reverted afterwards, its
    transaction pool included: a transaction a test left unmined would otherwise hold a nonce
    of the next test's wallet (seen on CI as a createAuction stuck after draining, then "nonce
    used by another transaction" in the test after)."""
    snapshot = rpc(anvil_node.url, "evm_snapshot")
    yield anvil_node
    rpc(anvil_node.url, "evm_revert", snapshot)
    rpc(anvil_node.url, "anvil_dropAllTransactions")


@pytest.fixture(scope="session")
def _deployments(
    anvil_node: Anvil, django_db_setup: None, django_db_blocker: Any
) -> list[dict[str, Any]]:
    """`deploy_contracts` run once per session (per xdist worker) on the session's anvil: the
    contracts stay on the chain, which every test's `chain` reverts to this state; the Deployment
    rows it wrote are rolled back here and handed to each test by `deployed`."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("deploy_contracts", verbosity=0)
        rows = list(Deployment.objects.values())
        transaction.set_rollback(True)
    # A fresh id and deployed_at for each test, as if it had deployed them itself.
    return [{k: v for k, v in row.items() if k not in ("id", "deployed_at")} for row in rows]


@pytest.fixture
def deployed(_deployments: list[dict[str, Any]], chain: Anvil, db: None) -> Anvil:
    """The ledger's contracts, fresh: the state `deploy_contracts` leaves on a new chain, on the
    session's anvil (reverted after the test, as `chain`) and in this test's database. Session
    fixtures are set up before function ones, so `chain`'s snapshot is taken after the deployment
    and its revert keeps the contracts."""
    Deployment.objects.bulk_create(Deployment(**row) for row in _deployments)
    return chain


@pytest.fixture
def deployed_here(chain: Anvil, db: None) -> Anvil:
    """The ledger's contracts deployed by the test itself, above `chain`'s snapshot: for tests
    that reorganise the chain (`anvil_reorg`). anvil rebuilds a reorg's common ancestor from its
    cache of historical states, keyed by block hash; the session deployment's last block is the
    parent of every test's first block, and once a worker has mined a thousand or so blocks over
    it, that cached state lost the contracts' code (seen with anvil 1.7.1: a replayed call
    succeeded and emitted nothing). An ancestor mined in the test itself is cached afresh."""
    call_command("deploy_contracts", verbosity=0)
    return chain


@pytest.fixture(autouse=True)
def _breakers_closed() -> Iterator[None]:
    """A chain node or broker one test stopped is back for the next (ledger/breakers.py)."""
    yield
    breakers_reset()
