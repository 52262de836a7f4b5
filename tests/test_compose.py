"""docker-compose.yml, the Dockerfile and what the image is built from, as written (issue 20);
tests/test_deploy_smoke.py runs the services' commands."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP = ("deploy", "web", "worker", "sender", "beat")


def test_docker_compose_accepts_the_file() -> None:
    done = subprocess.run(
        ["docker-compose", "config", "-q"],  # noqa: S607 - Debian's, installed by `make test`
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_every_long_running_service_has_a_health_check_and_the_app_waits_for_deploy() -> None:
    for name, service in SERVICES.items():
        if name == "deploy":
            assert service["restart"] == "no" and service["healthcheck"] == {"disable": True}
        else:
            assert service["healthcheck"]["test"], name
    for name in ("web", "worker", "sender", "beat"):
        assert SERVICES[name]["depends_on"]["deploy"] == {
            "condition": "service_completed_successfully"
        }, name
    assert "deploy_contracts" in SERVICES["deploy"]["command"]
    assert "migrate" in SERVICES["deploy"]["command"]
    # no migration raced by the web processes
    assert "migrate" not in SERVICES["web"]["command"]


def test_each_celery_process_has_a_node_name_of_its_own() -> None:
    names = {}
    for name in ("worker", "sender"):
        command = shlex.split(SERVICES[name]["command"])
        names[name] = command[command.index("-n") + 1]
        assert names[name].endswith("@%h")
        assert SERVICES[name]["environment"]["CELERY_NODE"] == names[name].split("@")[0]
    assert len(set(names.values())) == len(names)
    # one sender, handing out the operator wallet's nonces
    assert "--concurrency 1" in SERVICES["sender"]["command"]


def test_only_the_proxy_is_reachable_from_outside_and_only_it_is_trusted() -> None:
    assert [name for name, service in SERVICES.items() if service.get("ports")] == ["proxy"]
    proxy_address = SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    for name in APP:
        assert SERVICES[name]["environment"]["PRINTFAIR_TRUSTED_PROXIES"] == proxy_address
    # the web process is on the proxy's network; the others are not
    assert "edge" in SERVICES["web"]["networks"]
    assert all("edge" not in SERVICES[name]["networks"] for name in APP if name != "web")


def test_secrets_reach_the_services_as_files_never_as_values() -> None:
    secret = re.compile(r"SECRET|PASSWORD|_KEY$|KEKS|EMAIL_URL")
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if secret.search(key):
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), (name, key)
                assert value.removeprefix("/run/secrets/") in service["secrets"], (name, key)
    assert set(COMPOSE["secrets"]) == {
        Path(value).name
        for service in SERVICES.values()
        for key, value in service.get("environment", {}).items()
        if key.endswith("_FILE")
    }


def test_the_image_carries_nothing_local() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for local in (".git", ".env", "secrets/", "var/", ".venv/", "node_modules/"):
        assert local in ignored, local
    dockerfile = (ROOT / "Dockerfile").read_text()
    # the build reads no secret: collectstatic runs on the settings every environment shares
    assert "DJANGO_SETTINGS_MODULE=config.settings.base python manage.py collectstatic" in (
        dockerfile
    )
    assert not re.search(r"SECRET_KEY|KEKS|OPERATOR_KEY", dockerfile)


def test_the_images_lock_pins_what_the_tests_ran() -> None:
    """requirements/server.lock (the image's) must not drift from requirements/dev.lock."""

    def pins(name: str) -> dict[str, str]:
        text = (ROOT / "requirements" / name).read_text()
        return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.MULTILINE))

    server, dev = pins("server.lock"), pins("dev.lock")
    assert server and {name: (version, dev.get(name)) for name, version in server.items()
                       if dev.get(name) != version} == {}  # fmt: skip
    assert "--require-hashes -r requirements/server.lock" in (ROOT / "Dockerfile").read_text()
