"""Production as docker-compose.yml runs it, with local processes in place of containers (issue
20): a PostgreSQL and a Redis of the test's own, an anvil as the external chain, then the
services' commands exactly as docker-compose.yml writes them (read from it, so the two cannot
drift) under the production settings, their secrets in files as compose mounts them, and the
static files collected as the Dockerfile collects them. The test stands where Caddy would: it
talks plain HTTP to gunicorn from a trusted proxy address, saying the client used HTTPS.

Then as people would: a customer signs up (confirming by mail), posts a job with a real STL and
publishes it; its auction is created on chain and final; the admin made as docs/deploy.md says
verifies a print shop, whose API key lists the job. The worker and the web process are killed
and started again, and nothing is lost: the job, the file, the session, and a job published
while the worker was down reaches the chain once it is back."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.utils import timezone
from eth_account import Account

from ledger.anvil import Anvil, free_port, rpc
from tests.processes import ROOT, settings_alone, wait_for

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
HOST = "localhost"  # PRINTFAIR_HOST's default
STL = ROOT / "tests" / "data" / "samples" / "stl" / "rear_case_binary.stl"
PASSWORD = "a-long-passphrase-42"

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and list(Path("/usr/lib/postgresql").glob("*/bin"))),
    reason="needs PostgreSQL and Redis servers installed (CI has both)",
)


def interpolate(text: str) -> str:
    """Compose's ${NAME:-default} with no variable set: what an operator gets by default."""
    return re.sub(r"\$\{[A-Z_]+(?::-([^}]*))?\}", lambda m: m.group(1) or "", text)


def command_of(service: str) -> list[str]:
    return shlex.split(interpolate(COMPOSE["services"][service]["command"]))


@dataclass
class Stack:
    """The services of docker-compose.yml as local processes."""

    root: Path
    env: dict[str, str]
    web_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def container_path(self, text: str) -> str:
        """A path inside the image (/app/var, /run/secrets) as the test's folder holds it."""
        return text.replace("/app/var", str(self.root / "var")).replace(
            "/run/secrets", str(self.root / "secrets")
        )

    def run(self, service: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - compose's own command line
            command_of(service), cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip

    def start(self, service: str) -> None:
        command = [self.container_path(arg) for arg in command_of(service)]
        if service == "web":
            command[command.index("--bind") + 1] = f"127.0.0.1:{self.web_port}"
        env = {**self.env, **{k: str(v) for k, v in self._own_environment(service).items()}}
        log = (self.root / f"{service}.log").open("ab")
        self.processes[service] = subprocess.Popen(  # noqa: S603 - compose's own command line
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def _own_environment(self, service: str) -> dict[str, Any]:
        """What a service adds to the shared environment (the Celery node's name)."""
        shared = COMPOSE["x-app"]["environment"]
        own = COMPOSE["services"][service].get("environment", shared)
        return {key: value for key, value in own.items() if key not in shared}

    def kill(self, service: str) -> None:
        """As the kernel's OOM killer or a pulled plug would: SIGKILL, no goodbye."""
        process = self.processes.pop(service)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Browser:
    """A person's browser as Caddy would pass it on: Host, X-Forwarded-Proto https, and the
    cookies (all Secure: the site is HTTPS) kept by hand, as requests keeps Secure cookies to
    https:// addresses only."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "198.51.100.20",
            "Origin": f"https://{HOST}",
            "Referer": f"https://{HOST}{path}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **kwargs.pop("headers", {}),
        }
        if method == "POST" and "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        response = self.session.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=60, **kwargs
        )
        self.cookies.update(response.cookies.items())
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> requests.Response:
        if "csrftoken" not in self.cookies:
            self.get("/login/")  # sets the CSRF cookie, as the form's page would
        return self.request("POST", path, data=data, **kwargs)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup:
        yield _start_servers(tmp_path, cleanup)


def _start_servers(tmp_path: Path, cleanup: contextlib.ExitStack) -> Stack:
    """PostgreSQL, Redis and the chain as compose's services would be, and the settings."""
    # Outside pytest's private folders: as root, the cluster belongs to the postgres user.
    postgres = Path(tempfile.mkdtemp(prefix="printfair-smoke-"))
    postgres.chmod(0o755)
    pg_port, redis_port = free_port(), free_port()
    own_postgres = ROOT / "devtools" / "own_postgres"
    cleanup.callback(lambda: subprocess.run([own_postgres, "stop", postgres], check=False))  # noqa: S603
    subprocess.run([own_postgres, "start", postgres, str(pg_port)], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-qc",  # noqa: S607
         "CREATE DATABASE printfair"], check=True,
    )  # fmt: skip
    redis = subprocess.Popen(  # noqa: S603
        ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""],  # noqa: S607
        stdout=subprocess.DEVNULL,
    )
    cleanup.callback(redis.wait)
    cleanup.callback(redis.terminate)
    # compose's development chain: anvil with accounts of its own, none of them PrintFair's
    Account.enable_unaudited_hdwallet_features()
    chain = Anvil(
        mnemonic=Account.create_with_mnemonic()[1], chain_id=31337, block_time=1,
        log=tmp_path / "anvil.log",
    )  # fmt: skip
    cleanup.callback(chain.stop)
    chain.start()
    operator, arbiter = Account.create(), Account.create()
    # ... whose coin the new operator gets as docs/deploy.md's quick path gives it
    rpc(chain.url, "anvil_setBalance", operator.address, hex(1000 * 10**18))
    stack = Stack(root=tmp_path, env={})
    cleanup.callback(stack.stop)
    # The secrets, as files compose mounts under /run/secrets.
    (tmp_path / "secrets").mkdir()
    (tmp_path / "mail").mkdir()
    keys = {
        "django_secret_key": secrets.token_urlsafe(50),
        "postgres_password": "not-checked-by-a-trust-cluster",
        "printfair_keks": "1:" + base64.b64encode(os.urandom(32)).decode(),
        "chain_operator_key": "0x" + operator.key.hex().removeprefix("0x"),
        "chain_arbiter_key": "0x" + arbiter.key.hex().removeprefix("0x"),
        "email_url": f"filemail:///{tmp_path / 'mail'}",
    }
    for name, value in keys.items():
        (tmp_path / "secrets" / name).write_text(value + "\n")
    environment = {
        key: stack.container_path(interpolate(str(value)))
        for key, value in COMPOSE["x-app"]["environment"].items()
    }
    # What differs from one host to another: where the servers are, and the proxy (this test).
    environment.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{pg_port}/printfair",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CHAIN_RPC_URL=chain.url,
        PRINTFAIR_TRUSTED_PROXIES="127.0.0.1",
        PRINTFAIR_VAR_DIR=str(tmp_path / "var"),
    )
    env = settings_alone(environment)
    env.pop("ENV_FILE")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    stack.env = env
    return stack


def collectstatic_as_the_image_does(stack: Stack) -> None:
    (line,) = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "collectstatic" in line
    ]
    command = line.strip().removeprefix("&&").strip().rstrip("\\").strip()
    # Only what the build has: no secret, no database.
    env = {"PATH": stack.env["PATH"], "PRINTFAIR_VAR_DIR": stack.env["PRINTFAIR_VAR_DIR"]}
    done = subprocess.run(  # noqa: S603
        ["sh", "-c", command],  # noqa: S607 - the Dockerfile's shell
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def mailed_link(stack: Stack, to: str) -> str:
    for message in sorted((stack.root / "mail").iterdir(), reverse=True):
        text = message.read_text()
        if f"To: {to}" in text:
            link = re.search(r"https://[^/\s]+(/signup/confirm/\S+/)", text)
            assert link is not None, text
            return link.group(1)
    raise AssertionError(f"no mail to {to}")


def sign_up(stack: Stack, browser: Browser, email: str, kind: str) -> None:
    answer = browser.post(
        "/signup/",
        {"name": "Grace Engineer", "email": email, "password": PASSWORD,
         "organization_name": f"{email} Ltd", "kind": kind},
    )  # fmt: skip
    assert answer.status_code == 200 and "Check your inbox" in answer.text, answer.text[-2000:]
    confirmed = browser.get(mailed_link(stack, email))
    assert confirmed.status_code == 302, confirmed.text[-2000:]


def final_auction_block(browser: Browser, job: int) -> int | None:
    page = browser.get(f"/jobs/{job}/")
    assert page.status_code == 200
    created = re.search(r"Created</span>, block (\d+)", page.text)
    return int(created.group(1)) if created else None


def post_and_publish(browser: Browser, title: str) -> int:
    now = timezone.now()
    created = browser.post(
        "/jobs/new/",
        {"title": title, "process": "sls", "material": "pa12", "quantity": "4", "spares": "1",
         "tolerance_mm": "0.2", "finish": "as_printed",
         "needed_by": (now + timedelta(days=30)).strftime("%Y-%m-%d"), "reserve_price": "800",
         "commit_deadline": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
         "reveal_deadline": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
         "pricing_rule": "first_price", "funding_window_hours": "72",
         "description": "Four mounts for the drone camera."},
    )  # fmt: skip
    assert created.status_code == 302, re.findall(r"invalid-feedback[^>]*>([^<]+)", created.text)
    job = int(re.fullmatch(r"/jobs/(\d+)/(?:edit/)?", created.headers["Location"]).group(1))  # type: ignore[union-attr]
    uploaded = browser.post(
        f"/jobs/{job}/files/", {}, files={"files": (STL.name, STL.read_bytes())}
    )
    assert uploaded.status_code in (200, 302), uploaded.text[-2000:]
    published = browser.post(f"/jobs/{job}/publish/", {})
    assert published.status_code == 302, published.text[-2000:]
    return job


def test_the_compose_services_run_the_product_end_to_end_and_survive_being_killed(
    stack: Stack,
) -> None:
    # given: the image's static files, and the one-shot deploy step (migrations and contracts)
    collectstatic_as_the_image_does(stack)
    deploy = stack.run("deploy")
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    assert "AuctionHouse" in deploy.stdout, deploy.stdout
    # ... the first admin, as docs/deploy.md says
    admin = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--email", "ada@printfair.example",
         "--noinput"],
        cwd=ROOT, env={**stack.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr[-2000:]
    # ... and the long-running services
    for service in ("web", "worker", "sender", "beat"):
        stack.start(service)
    base = f"http://127.0.0.1:{stack.web_port}"
    wait_for(lambda: _healthy(base), timeout=90, what=f"the web process (logs in {stack.root})")

    # when: a customer signs up, posts a job with a real STL and publishes it
    customer = Browser(base)
    sign_up(stack, customer, "grace@hopper.example", "customer")
    job = post_and_publish(customer, "Camera mount")
    # then its auction is created on chain, and final
    wait_for(
        lambda: final_auction_block(customer, job) is not None, timeout=120,
        what=f"the auction on chain (logs in {stack.root})",
    )  # fmt: skip
    # ... static files are the hashed ones, immutable and cacheable for ten years
    page = customer.get(f"/jobs/{job}/").text
    (stylesheet,) = re.findall(r'href="(/static/css/[^"]+\.[0-9a-f]{12}\.css)"', page)
    assert "max-age=315360000" in customer.get(stylesheet).headers["Cache-Control"]

    # when: the admin verifies a print shop that signed up, and the shop makes an API key
    shop = Browser(base)
    sign_up(stack, shop, "wendy@layers.example", "print_shop")
    token = verify_and_make_key(base, shop)
    # then the shop's program finds the job through the API
    api = requests.Session()
    api.trust_env = False
    api.headers.update(
        {"Authorization": f"Bearer {token}", "Host": HOST, "X-Forwarded-Proto": "https"}
    )
    listed = api.get(f"{base}/api/v1/jobs/", timeout=30)
    assert listed.status_code == 200, listed.text
    assert [entry["id"] for entry in listed.json()["results"]] == [job]

    # when: the worker and the web process die, and a job is published while the worker is down
    stack.kill("worker")
    stack.kill("sender")
    second = post_and_publish(customer, "Bracket")
    stack.kill("web")
    assert not _healthy(base)
    for service in ("web", "worker", "sender"):
        stack.start(service)
    wait_for(lambda: _healthy(base), timeout=90, what=f"the web process (logs in {stack.root})")
    # then nothing is lost: the session, both jobs and their files, and the second auction
    # reaches the chain
    mine = customer.get("/jobs/")
    assert mine.status_code == 200 and "Camera mount" in mine.text and "Bracket" in mine.text
    wait_for(
        lambda: final_auction_block(customer, second) is not None, timeout=120,
        what=f"the second auction on chain (logs in {stack.root})",
    )  # fmt: skip
    assert final_auction_block(customer, job) is not None
    listed = api.get(f"{base}/api/v1/jobs/", timeout=30).json()["results"]
    assert sorted(entry["id"] for entry in listed) == sorted([job, second])
    detail = api.get(f"{base}/api/v1/jobs/{job}/", timeout=30).json()
    assert [f["original_name"] for f in detail["files"]] == [STL.name]
    # ... and every service still runs
    assert all(process.poll() is None for process in stack.processes.values())


def _healthy(base: str) -> bool:
    try:
        answer = requests.get(f"{base}/healthz", headers={"Host": HOST}, timeout=5)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def verify_and_make_key(base: str, shop: Browser) -> str:
    admin = Browser(base)
    logged_in = admin.post(
        "/admin/login/?next=/admin/",
        {"username": "ada@printfair.example", "password": PASSWORD, "next": "/admin/"},
    )
    assert logged_in.status_code == 302, logged_in.text[-2000:]
    changelist = "/admin/printshops/printshopprofile/"
    listing = admin.get(changelist)
    (profile,) = re.findall(r'name="_selected_action" value="(\d+)"', listing.text)
    verified = admin.post(changelist, {"action": "verify", "_selected_action": profile})
    assert verified.status_code == 302, verified.text[-2000:]
    keys = shop.post("/shop/api-keys/", {"name": "shop floor"})
    assert keys.status_code == 200, keys.text[-2000:]
    token = re.search(r'id="token" type="text" value="(pf_[^"]+)"', keys.text)
    assert token is not None, keys.text[-2000:]
    return token.group(1)
