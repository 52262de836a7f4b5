"""Hostile input as data (issue 13): the corpus under tests/data/hostile/ sent to every endpoint
that parses input, against a real gunicorn worker, each request within 2 s and 64 MiB of memory
over the worker's warmed-up baseline, and none answered with a server error.

- json/*: whole bodies (nesting 100,000 deep, unclosed, numbers beyond any float, not UTF-8, …)
  to every API operation that takes a JSON body;
- values.txt: one JSON value a line (huge and tiny numbers, NUL, lone surrogates, long strings,
  nested values, …) put in turn into each field of a valid body of each such operation, and
  into each field of the browser's forms;
- requests.txt: paths and query strings (ids beyond 64 bits, NUL, dates out of range, …);
- *.stl, *.3mf: design files (zip bombs of several shapes, truncated and lying files) uploaded
  as design files, and as evidence.

The summary (tried, refused, accepted, 5xx) is printed; the assertions are the bounds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client

from ledger.anvil import Anvil
from machines.services import machine_create
from marketplace.models import User
from printshops.services import api_key_create
from tests import factories
from tests.processes import WebServer, api_session, browser_session
from tests.scenarios import Released, produce

pytestmark = pytest.mark.django_db(transaction=True)

CORPUS = Path(__file__).resolve().parent / "data" / "hostile"
SECONDS = 2.0
MEMORY = 64 * 1024 * 1024

# A valid body of each API operation that takes JSON; each of its fields gets each value.
JSON_BODIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "shop_keys_register": (
        "PUT", "/api/v1/shop/keys/",
        {"challenge": "0" * 32, "address": "0x" + "1" * 40, "signature": "0x" + "2" * 130,
         "hpke_kem": "x25519", "hpke_public_key": "B" * 43 + "="},
    ),
    "bids_commit": (
        "POST", "/api/v1/jobs/{job}/bids/",
        {"commitment": "0x" + "3" * 64, "version": 1, "signature": "0x" + "4" * 130},
    ),
    "bids_commit_many": (
        "POST", "/api/v1/bids/",
        {"bids": [{"job": 1, "commitment": "0x" + "3" * 64, "version": 1,
                   "signature": "0x" + "4" * 130}]},
    ),
    "bids_reveal": (
        "POST", "/api/v1/jobs/{job}/bids/reveal/",
        {"price": 1000, "lead_time_days": 5, "salt": "0x" + "5" * 64},
    ),
    "tickets_take": (
        "POST", "/api/v1/jobs/{job}/tickets/", {"machine": "M1", "part_serial": "P-9"}
    ),
    "events_report": (
        "POST", "/api/v1/jobs/{job}/events/",
        {"part_serial": "P-1", "kind": "print_started", "occurred_at": "2026-05-01T09:30Z",
         "data": {"machine": "M1", "material_lot": "L1"}, "evidence": []},
    ),
    "quality_report": (
        "POST", "/api/v1/jobs/{job}/quality/",
        {"part_serial": "P-1", "characteristic": "Bore", "nominal": "10.00", "tolerance": "0.05",
         "measured": "10.01", "unit": "mm", "instrument": "CMM"},
    ),
    "quality_batch_add": (
        "POST", "/api/v1/jobs/{job}/quality/batch/",
        {"records": [{"part_serial": "P-1", "characteristic": "Bore", "nominal": "10.00",
                      "tolerance_minus": "0.05", "tolerance_plus": "0.05", "measured": "10.01",
                      "instrument": "CMM"}]},
    ),
    "payouts_withdraw": (
        "POST", "/api/v1/payouts/withdraw/",
        {"deadline": 1_900_000_000, "signature": "0x" + "6" * 130},
    ),
    "machines_create": (
        "POST", "/api/v1/machines/",
        {"make": "Prusa", "model": "MK4", "process": "fdm", "build_x_mm": 250,
         "build_y_mm": 210, "build_z_mm": 220, "serial": "SN-1", "location": "Bay 3"},
    ),
    "machine_keys_propose": (
        "POST", "/api/v1/machines/{machine}/keys/",
        {"address": "0x" + "1" * 40, "signature": "0x" + "2" * 130},
    ),
    "machine_keys_approve": (
        "POST", "/api/v1/machines/{machine}/keys/approve/", {"pairing_code": "ABCD-EFGH"}
    ),
    "machine_keys_revoke": (
        "POST", "/api/v1/machines/{machine}/keys/revoke/", {"address": "0x" + "1" * 40}
    ),
    "machine_events_deliver": (
        "POST", "/api/v1/machines/{machine}/events/",
        {"events": [{"sequence": 1, "occurred_at_ms": 1_780_000_000_000, "kind": "progress",
                     "data": {"layer": 1, "temperatures": {"tool0": 215.0}},
                     "signature": "0x" + "7" * 130}]},
    ),
}  # fmt: skip
# The operation whose body is a file upload: it is sent the hostile files. (Paths and queries of
# every operation get requests.txt.)
OTHER_BODIES = {"evidence_upload"}

# The browser's forms that parse input, each with a valid body; each field gets each value.
FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "signup": (
        "/signup/",
        {"name": "Eve", "email": "eve@example.com", "password": "a-long-passphrase-42",
         "organization_name": "Eve Ltd", "kind": "customer"},
    ),
    "login": ("/login/", {"username": "eve@example.com", "password": "wrong"}),
    "job_create": (
        "/jobs/new/",
        {"title": "Part", "process": "sls", "material": "pa12", "quantity": "4", "spares": "1",
         "tolerance_mm": "0.2", "finish": "as_printed", "needed_by": "2030-01-01",
         "reserve_price": "100", "commit_deadline": "2029-01-01T10:00",
         "reveal_deadline": "2029-01-02T10:00", "pricing_rule": "first_price"},
    ),
    "wallet_register_own": (
        "/organisation/wallet/own/", {"address": "0x" + "1" * 40, "signature": "0x" + "2" * 130}
    ),
    "order_dispute": ("/jobs/{job}/order/dispute/", {"statement": "It is broken."}),
}  # fmt: skip


def json_values() -> list[str]:
    return [line for line in (CORPUS / "values.txt").read_text().splitlines() if line]


# A form field is text whatever it holds: the values that differ as text (the others differ only
# as JSON types), so that every form field gets each kind of hostile text once.
FORM_VALUES = [
    value
    for value in json_values()
    if (value.startswith('"') and ("\\u" in value or len(value) > 1000 or "1e" in value.lower()))
    or value in ("1e999999", "-1e30", "18446744073709551616", "[]")
    or value.startswith(('"<', '"../', "\"'"))
]


def with_value(body: Any, path: tuple[str | int, ...], value: str) -> str:
    """The JSON text of `body` with the field at `path` replaced by the literal `value`."""
    marker = "\u2603HOSTILE\u2603"
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), value)


def field_paths(body: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    items = body.items() if isinstance(body, dict) else enumerate(body)
    for key, value in items:
        yield (*prefix, key)
        if isinstance(value, dict | list) and value:
            yield from field_paths(value, (*prefix, key))


@dataclass
class Tally:
    server: WebServer
    baseline: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    slow: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    peak: int = 0
    grew: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Found once: finding it walks every process of the machine (psutil reads /proc).
        self.worker = self.server.worker

    def send(self, session: requests.Session, what: str, method: str, url: str, **kw: Any) -> int:
        response = session.request(
            method, self.server.url + url, timeout=60, allow_redirects=False, **kw
        )
        seconds = response.elapsed.total_seconds()
        grown = self.worker.memory_info().rss - self.baseline
        if grown > self.peak:
            self.peak = grown
            self.grew.append(f"{what}: {method} {url[:80]} -> {grown / 2**20:.1f} MiB")
        kind = "5xx" if response.status_code >= 500 else (
            "refused" if response.status_code >= 400 else "accepted"
        )  # fmt: skip
        self.answers[kind] += 1
        if kind == "5xx":
            self.errors.append(f"{what}: {method} {url[:120]} -> {response.status_code}")
        if seconds > SECONDS:
            self.slow.append(f"{what}: {method} {url[:120]} took {seconds:.2f} s")
        return response.status_code


def test_the_hostile_corpus_is_refused_within_bounds_everywhere_input_is_parsed(
    released: Released,
    customer: User,
    winning_shop: User,
    anvil_node: Anvil,
    servers: Callable[..., WebServer],
    testdata: Path,
) -> None:
    # given: an order in production, a draft job to upload to, a browser and a shop's program
    job, _, api = released
    produce(api, job, "P-1")
    draft = factories.JobFactory.create(created_by=customer)
    machine = machine_create(
        actor=winning_shop, make="Prusa", model="MK4",
        process="fdm", build_x_mm=250, build_y_mm=210, build_z_mm=220, serial="SN-0",
    )  # fmt: skip
    ids = {"job": job.pk, "machine": machine.pk}
    server = servers(anvil_node.url)
    person = browser_session(server, customer)
    visitor = browser_session(server, None)
    shop = api_session(api_key_create(actor=winning_shop, name="hostile", expires_at=None)[1])
    every_json_operation = {
        operation["operationId"]
        for operations in Client().get("/api/schema/?format=json").json()["paths"].values()
        for operation in operations.values()
        if "requestBody" in operation
    }
    assert every_json_operation == set(JSON_BODIES) | OTHER_BODIES, "a new body to attack"
    tally = Tally(server)
    # warm up each kind of request once (imports, templates, caches), then take the baseline
    for method, path, body in JSON_BODIES.values():
        tally.send(shop, "warm-up", method, path.format(**ids), json=body)
    cube = (testdata / "stl" / "cube_binary.stl").read_bytes()
    tally.send(
        person, "warm-up", "POST", f"/jobs/{draft.pk}/files/", files={"files": ("c.stl", cube)}
    )
    tally.send(person, "warm-up", "GET", "/jobs/?query=x")
    tally = Tally(server, baseline=server.worker.memory_info().rss)

    # when: whole bodies
    for document in sorted((CORPUS / "json").iterdir()):
        for name, (method, path, _) in JSON_BODIES.items():
            tally.send(
                shop, f"{name} <- {document.name}", method, path.format(**ids),
                data=document.read_bytes(), headers={"Content-Type": "application/json"},
            )  # fmt: skip
    # ... a value in each field of each body
    values = json_values()
    for name, (method, path, body) in JSON_BODIES.items():
        # A batch's entries are the single endpoint's bodies, checked by the same serializer:
        # the batch gets the values as its list and as one entry, not field by field again.
        wheres = (
            [("records",), ("records", 0)] if name == "quality_batch_add" else field_paths(body)
        )
        for where in wheres:
            for value in values:
                tally.send(
                    shop, f"{name}.{'.'.join(map(str, where))} <- {value[:40]}", method,
                    path.format(**ids), data=with_value(body, where, value).encode(),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
    # ... and in each field of each form
    for name, (form_path, form) in FORMS.items():
        for key in form:
            for value in FORM_VALUES:
                # A JSON string as its text; anything else as typed.
                typed = json.loads(value) if value.startswith('"') else value
                # As a browser would send it; a lone surrogate as the bytes it would be.
                encoded = urlencode({**form, key: typed}, encoding="utf-8", errors="surrogatepass")
                tally.send(
                    person, f"{name}.{key}", "POST", form_path.format(**ids), data=encoded,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
    # ... paths and query strings, to the browser's pages and the API alike
    for line in (CORPUS / "requests.txt").read_text().splitlines():
        method, target = line.split(" ", 1)
        target = target.format(job=job.pk)
        session = shop if target.startswith("/api/") else person
        tally.send(session, "request", method, target)
        tally.send(visitor, "request (anonymous)", method, target)
    # ... design files, as uploads to a draft and as evidence
    for design in sorted(p for p in CORPUS.iterdir() if p.suffix in (".stl", ".3mf")):
        content = design.read_bytes()
        tally.send(
            person, f"upload {design.name}", "POST", f"/jobs/{draft.pk}/files/",
            files={"files": (design.name, content)},
        )  # fmt: skip
        tally.send(
            shop, f"evidence {design.name}", "POST", f"/api/v1/jobs/{job.pk}/evidence/",
            files={"file": (design.name, content)},
        )  # fmt: skip

    # then
    tried = sum(tally.answers.values())
    print(
        f"\nhostile input: {tried} requests tried, {tally.answers['refused']} refused (4xx), "
        f"{tally.answers['accepted']} accepted, {tally.answers['5xx']} server errors; "
        f"peak memory growth {tally.peak / 2**20:.1f} MiB"
    )
    assert tally.errors == [], "\n".join(tally.errors[:30])
    assert tally.slow == [], "\n".join(tally.slow[:30])
    assert tally.peak < MEMORY, "\n".join(tally.grew[-10:])
    assert server.alive()
