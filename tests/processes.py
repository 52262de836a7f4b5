"""Real processes for the fault tests: the environment that points a process a test starts at the
test run's database, chain, keys and media; a gunicorn web server; and a client that logs in to
it the way a browser or a shop's program would."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client

from ledger.anvil import free_port
from marketplace.models import User

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60.0
#: The web servers' timeout for a chain call made while someone waits (the setting's default is
#: 3 s; shorter here to keep the tests quick).
REQUEST_TIMEOUT = 2.0


def settings_alone(env: dict[str, str]) -> dict[str, str]:
    """This process's environment with its PrintFair settings replaced by `env`: none of this
    run's (or the developer's .env) fill a gap, as on a machine that has only `env`."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PRINTFAIR_", "CHAIN_", "DATABASE_", "REDIS_", "EMAIL_"))
    }
    clean.update(env, ENV_FILE=str(ROOT / "no-such.env"))
    return clean


def run_with_settings(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python whose PrintFair settings come from `env` alone."""
    return subprocess.run(  # noqa: S603 - the caller's own code, run by this interpreter
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=settings_alone(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(chain_url: str, broker_dir: Path, **changes: str) -> dict[str, str]:
    """What a process needs to work on the test run's world: its database, chain, operator key,
    key-encryption keys, media, and a broker (CI's Redis, or files under `broker_dir`)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CHAIN_RPC_URL": chain_url,
        "PRINTFAIR_TEST_OPERATOR_KEY": settings.CHAIN_OPERATOR_KEY,
        "PRINTFAIR_TEST_ARBITER_KEY": settings.CHAIN_ARBITER_KEY,
        "PRINTFAIR_KEKS": ",".join(
            f"{version}:{base64.b64encode(key).decode()}"
            for version, key in settings.PRINTFAIR_KEKS.items()
        ),
        "PRINTFAIR_TEST_DIR": str(Path(settings.MEDIA_ROOT).parent),
    }
    if settings.REDIS_URL:
        env["CELERY_BROKER_URL"] = settings.REDIS_URL
    else:
        env["CELERY_BROKER_URL"] = "filesystem://"
        env["CELERY_BROKER_DIR"] = str(broker_dir)
    env.update(changes)
    return env


def wait_for(condition: Callable[[], bool], *, timeout: float = TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.2)


@dataclass
class WebServer:
    """gunicorn serving config.wsgi on a port of its own, as in production (one worker, so that
    its memory can be read and its breakers are shared by its threads)."""

    env: dict[str, str]
    log: Path
    threads: int = 4
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--threads", str(self.threads),
            "--timeout", "120", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, what=f"gunicorn on {self.url} (log: {self.log})")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/api/v1/chain/", timeout=5).status_code < 500
        except requests.RequestException:
            return False

    @property
    def worker(self) -> psutil.Process:
        """The one worker process (the master only watches it)."""
        assert self.process is not None
        (child,) = psutil.Process(self.process.pid).children()
        return child

    def alive(self) -> bool:
        return (
            self.process is not None
            and self.process.poll() is None
            and bool(psutil.Process(self.process.pid).children())
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def browser_session(server: WebServer, user: User | None) -> requests.Session:
    """A requests session logged in as `user` (a session made here, in the shared database),
    carrying the CSRF token that forms need."""
    session = requests.Session()
    session.trust_env = False  # a local server: no proxy to look up on every request
    if user is not None:
        client = Client()
        client.force_login(user)
        session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.get(f"{server.url}/login/", timeout=30)  # sets the CSRF cookie
    session.headers["X-CSRFToken"] = session.cookies.get("csrftoken") or ""
    session.headers["Referer"] = server.url
    return session


def api_session(token: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a local server: no proxy to look up on every request
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@dataclass
class Timed:
    status: int
    seconds: float
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text)


def timed(session: requests.Session, method: str, url: str, **kwargs: Any) -> Timed:
    start = time.monotonic()
    response = session.request(method, url, timeout=120, allow_redirects=False, **kwargs)
    return Timed(
        response.status_code, time.monotonic() - start, dict(response.headers), response.text
    )


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """Start web servers on the test run's world (stopped after the test)."""
    started: list[WebServer] = []

    def start(chain_url: str, **changes: str) -> WebServer:
        env = process_env(
            chain_url,
            tmp_path / "broker",
            CHAIN_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
            CHAIN_UNREACHABLE_BACKOFF="30",
            **changes,
        )
        server = WebServer(env=env, log=tmp_path / f"gunicorn-{len(started)}.log").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
