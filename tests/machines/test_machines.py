"""Machines as participants (issue 17): a shop registers a machine, approves the key its agent
made with the pairing code the agent shows, and the agent delivers the events the machine signed.
Each rule that keeps a machine's record honest has a test named after the attack it stops."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.anvil import Anvil
from ledger.models import RecordLeaf
from machines.models import Machine, MachineEvent, MachineKey
from marketplace.models import User
from printfair.keys import sign_registration
from printfair.machine_events import (
    JOB_ENDED,
    JOB_STARTED,
    METERS,
    PROGRESS,
    pairing_code,
    pairing_message,
    samples_digest,
)
from printfair.machine_events import (
    MachineEvent as SignedEvent,
)
from tests.scenarios import anchor_all

pytestmark = pytest.mark.django_db

MACHINE = {
    "make": "Prusa", "model": "MK4", "process": "fdm", "build_x_mm": 250, "build_y_mm": 210,
    "build_z_mm": 220, "serial": "SN-4711", "location": "Hall 2, bay 3",
}  # fmt: skip
STARTED: dict[str, Any] = {"file_name": "bracket.gcode", "file_sha256": "ab" * 32, "ticket": None}
SAMPLE: dict[str, Any] = {
    "completion": 50.0,
    "elapsed_s": 30.0,
    "layer": 12,
    "temperatures": {"tool0": 215.0},
}


class Agent:
    """What `printfair agent` does, by hand: its key, its numbering, its signing."""

    def __init__(self, api: Client, machine_id: int, key: LocalAccount | None = None) -> None:
        self.api, self.machine_id = api, machine_id
        self.key = key or Account.create()
        self.sequence = 0

    def propose(self, machine_id: int | None = None) -> Any:
        message = pairing_message(
            machine_id=machine_id or self.machine_id,
            address=self.key.address,
            chain_id=settings.CHAIN_ID,
        )
        body = {
            "address": self.key.address,
            "signature": "0x" + sign_registration(self.key.key, message).hex(),
        }
        return self.api.post(
            f"/api/v1/machines/{self.machine_id}/keys/", body, content_type="application/json"
        )

    @property
    def code(self) -> str:
        return pairing_code(machine_id=self.machine_id, address=self.key.address)

    def event(
        self, kind: str, data: dict[str, Any], changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The next event, signed, as the API takes it (`changes` alter it after signing)."""
        self.sequence += 1
        signed = SignedEvent(
            machine_id=self.machine_id, sequence=self.sequence,
            occurred_at_ms=int(time.time() * 1000), kind=kind, data=data,
        )  # fmt: skip
        body = {
            "sequence": signed.sequence, "occurred_at_ms": signed.occurred_at_ms,
            "kind": kind, "data": data,
            "signature": "0x" + signed.sign(self.key, chain_id=settings.CHAIN_ID).hex(),
        }  # fmt: skip
        return {**body, **(changes or {})}

    def deliver(self, *events: dict[str, Any]) -> Any:
        return self.api.post(
            f"/api/v1/machines/{self.machine_id}/events/",
            {"events": list(events)},
            content_type="application/json",
        )


@pytest.fixture
def shop_api(winning_shop: User, api_client: Callable[[User], Client]) -> Client:
    return api_client(winning_shop)


@pytest.fixture
def machine(shop_api: Client) -> Machine:
    response = shop_api.post("/api/v1/machines/", MACHINE, content_type="application/json")
    assert response.status_code == 201, response.json()
    return Machine.objects.get(pk=response.json()["id"])


@pytest.fixture
def agent(shop_api: Client, machine: Machine) -> Agent:
    """The machine's agent with its key approved by the shop."""
    agent = Agent(shop_api, machine.pk)
    assert agent.propose().status_code == 201
    approve = shop_api.post(
        f"/api/v1/machines/{machine.pk}/keys/approve/",
        {"pairing_code": agent.code},
        content_type="application/json",
    )
    assert approve.status_code == 200, approve.json()
    return agent


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- machines and pairing --------------------------------------------------------------------


def test_a_shop_registers_a_machine_and_approves_the_key_its_agent_shows(
    shop_api: Client, machine: Machine
) -> None:
    # given: the agent made a key and shows its pairing code
    agent = Agent(shop_api, machine.pk)
    proposed = agent.propose()
    assert proposed.status_code == 201
    assert proposed.json()["status"] == "pending"
    assert proposed.json()["pairing_code"] == agent.code
    # when: the shop types the code (in any case, with spaces)
    approved = shop_api.post(
        f"/api/v1/machines/{machine.pk}/keys/approve/",
        {"pairing_code": " " + agent.code.lower() + " "},
        content_type="application/json",
    )
    # then
    assert approved.status_code == 200
    detail = shop_api.get(f"/api/v1/machines/{machine.pk}/").json()
    approval = {"status": "pending", "tx_hash": None, "block": None, "error": ""}
    assert detail["keys"] == [
        {**proposed.json(), "status": "active", "first_sequence": 1, "approval": approval},
    ]
    assert detail["owner"] == machine.operator.owner_ref
    assert detail["last_sequence"] == 0


def test_a_key_someone_else_proposed_is_not_approved_with_the_machines_code(
    shop_api: Client, machine: Machine
) -> None:
    # given: a rogue key proposed with the shop's API key beside the machine's own
    real, rogue = Agent(shop_api, machine.pk), Agent(shop_api, machine.pk)
    assert real.propose().status_code == 201
    assert rogue.propose().status_code == 201
    # when: the shop approves the code the machine shows
    shop_api.post(
        f"/api/v1/machines/{machine.pk}/keys/approve/",
        {"pairing_code": real.code},
        content_type="application/json",
    )
    # then: only the machine's key is active
    statuses = dict(machine.keys.values_list("address", "status"))
    assert statuses == {real.key.address: "active", rogue.key.address: "pending"}
    wrong = shop_api.post(
        f"/api/v1/machines/{machine.pk}/keys/approve/",
        {"pairing_code": "AAAA-AAAA"},
        content_type="application/json",
    )
    # (400: the machine is there, the code is wrong)
    assert error(wrong) == (400, "pairing_code_unknown")
    unknown = shop_api.post(
        f"/api/v1/machines/{machine.pk}/keys/revoke/",
        {"address": "0x" + "ab" * 20},
        content_type="application/json",
    )
    assert error(unknown) == (400, "key_unknown")


def test_a_key_proof_made_for_another_machine_is_refused(
    shop_api: Client, machine: Machine
) -> None:
    other = shop_api.post(
        "/api/v1/machines/", {**MACHINE, "serial": "SN-2"}, content_type="application/json"
    ).json()["id"]
    agent = Agent(shop_api, machine.pk)
    assert error(agent.propose(machine_id=other)) == (400, "bad_key_proof")


def test_a_key_cannot_be_used_by_a_second_machine(shop_api: Client, agent: Agent) -> None:
    other = shop_api.post(
        "/api/v1/machines/", {**MACHINE, "serial": "SN-2"}, content_type="application/json"
    ).json()["id"]
    assert error(Agent(shop_api, other, agent.key).propose()) == (409, "key_used")


def test_another_shop_cannot_see_or_pair_or_feed_a_shops_machine(
    losing_shop: User, api_client: Callable[[User], Client], agent: Agent
) -> None:
    intruder = api_client(losing_shop)
    machine = f"/api/v1/machines/{agent.machine_id}/"
    assert intruder.get(machine).status_code == 404
    assert intruder.get("/api/v1/machines/").json() == []
    assert Agent(intruder, agent.machine_id).propose().status_code == 404
    stolen = Agent(intruder, agent.machine_id, agent.key)
    assert stolen.deliver(stolen.event(JOB_STARTED, STARTED)).status_code == 404
    assert not MachineEvent.objects.exists()


def test_a_customer_cannot_register_machines(
    customer: User, shop_api: Client, machine: Machine
) -> None:
    client = Client()
    client.force_login(customer)
    response = client.post("/api/v1/machines/", MACHINE, content_type="application/json")
    assert response.status_code in (401, 403)


def test_the_same_machine_twice_is_refused(shop_api: Client, machine: Machine) -> None:
    again = shop_api.post("/api/v1/machines/", MACHINE, content_type="application/json")
    assert error(again) == (409, "machine_exists")


# --- events ------------------------------------------------------------------------------------


def test_a_job_is_delivered_in_order_and_delivered_again_counts_once(agent: Agent) -> None:
    # given
    samples = [SAMPLE, {**SAMPLE, "layer": 13}]
    events = [
        agent.event(JOB_STARTED, STARTED),
        *(agent.event(PROGRESS, sample) for sample in samples),
        agent.event(JOB_ENDED, {"outcome": "finished", "duration_s": 61.5,
                                "samples": samples_digest(samples)}),
        agent.event(METERS, {"print_seconds": 61.5, "cycles": 1}),
    ]  # fmt: skip
    # when: delivered, then the agent (which did not hear the answer) delivers it all again
    first = agent.deliver(*events)
    again = agent.deliver(*events)
    # then
    assert first.status_code == 200, first.json()
    assert first.json() == {"stored": 5, "duplicates": 0, "last_sequence": 5, "notes": []}
    assert again.json() == {"stored": 0, "duplicates": 5, "last_sequence": 5, "notes": []}
    stored = list(MachineEvent.objects.values_list("sequence", "kind"))
    assert stored == [(1, JOB_STARTED), (2, PROGRESS), (3, PROGRESS), (4, JOB_ENDED), (5, METERS)]
    assert Machine.objects.get(pk=agent.machine_id).meters == {"print_seconds": 61.5, "cycles": 1}


def test_a_forged_event_signed_by_another_key_is_refused(agent: Agent) -> None:
    forger = Agent(agent.api, agent.machine_id)
    assert error(forger.deliver(forger.event(JOB_STARTED, STARTED))) == (400, "unknown_key")


def test_an_event_altered_after_signing_is_refused(agent: Agent) -> None:
    altered = agent.event(JOB_STARTED, STARTED, {"data": {**STARTED, "file_sha256": "cd" * 32}})
    assert error(agent.deliver(altered)) == (400, "unknown_key")
    assert not MachineEvent.objects.exists()


def test_a_replayed_number_with_other_content_is_refused(agent: Agent) -> None:
    assert agent.deliver(agent.event(JOB_STARTED, STARTED)).status_code == 200
    agent.sequence = 0  # the same number again, signed by the machine's own key
    replay = agent.event(JOB_STARTED, {**STARTED, "file_name": "other.gcode"})
    response = agent.deliver(replay)
    assert error(response) == (409, "sequence_taken")
    assert "replayed or forged" in response.json()["error"]["message"]


def test_events_out_of_order_or_with_a_gap_are_refused_and_the_agent_can_resend(
    agent: Agent,
) -> None:
    first, second, third = (
        agent.event(JOB_STARTED, STARTED),
        agent.event(PROGRESS, SAMPLE),
        agent.event(PROGRESS, SAMPLE),
    )
    reordered = agent.deliver(second, first)
    assert error(reordered) == (409, "sequence_gap")
    assert "the next event of this machine is 1" in reordered.json()["error"]["message"]
    gap = agent.deliver(first, third)
    assert error(gap) == (409, "sequence_gap")
    assert list(gap.json()["error"]["fields"]) == ["events.1"]
    # the first was applied before the gap; the rest in order go through
    assert agent.deliver(second, third).json() == {
        "stored": 2, "duplicates": 0, "last_sequence": 3, "notes": [],
    }  # fmt: skip


def test_a_meter_that_goes_backwards_is_refused(agent: Agent) -> None:
    assert (
        agent.deliver(agent.event(METERS, {"print_seconds": 3600, "cycles": 10})).status_code == 200
    )
    response = agent.deliver(agent.event(METERS, {"print_seconds": 3500}))
    assert error(response) == (400, "meter_backwards")
    assert (
        "print_seconds went backwards (was 3600, now 3500)" in response.json()["error"]["message"]
    )
    # a meter not sent keeps its reading; sending it equal is fine
    agent.sequence -= 1
    assert agent.deliver(agent.event(METERS, {"print_seconds": 3600})).status_code == 200


def test_a_revoked_keys_events_are_refused_even_if_signed_before(agent: Agent) -> None:
    # given: an event signed while the key was trusted, not yet delivered
    queued = agent.event(JOB_STARTED, STARTED)
    # when: the key is revoked (the machine was stolen)
    revoke = agent.api.post(
        f"/api/v1/machines/{agent.machine_id}/keys/revoke/",
        {"address": agent.key.address},
        content_type="application/json",
    )
    assert revoke.status_code == 200
    # then
    assert error(agent.deliver(queued)) == (400, "revoked_key")


def test_a_key_waiting_for_approval_cannot_sign(shop_api: Client, machine: Machine) -> None:
    agent = Agent(shop_api, machine.pk)
    agent.propose()
    assert error(agent.deliver(agent.event(JOB_STARTED, STARTED))) == (400, "key_not_approved")


def test_after_a_key_rotation_the_old_keys_queued_events_count_but_no_later_ones(
    shop_api: Client, agent: Agent
) -> None:
    # given: the old key signed two events while offline; one was delivered
    first, queued = agent.event(JOB_STARTED, STARTED), agent.event(PROGRESS, SAMPLE)
    assert agent.deliver(first).status_code == 200
    # when: the shop pairs a new key (the agent was reinstalled)
    new = Agent(shop_api, agent.machine_id)
    new.sequence = 1
    new.propose()
    shop_api.post(
        f"/api/v1/machines/{agent.machine_id}/keys/approve/",
        {"pairing_code": new.code},
        content_type="application/json",
    )
    # then: the new key takes over from event 2, so the old key's event 2 no longer counts
    assert error(agent.deliver(queued)) == (400, "key_replaced")
    assert new.deliver(new.event(PROGRESS, SAMPLE)).status_code == 200
    statuses = set(MachineKey.objects.values_list("status", "first_sequence"))
    assert statuses == {("retired", 1), ("active", 2)}


def test_a_job_end_whose_samples_differ_from_those_received_is_refused(agent: Agent) -> None:
    assert (
        agent.deliver(agent.event(JOB_STARTED, STARTED), agent.event(PROGRESS, SAMPLE)).status_code
        == 200
    )
    claimed = samples_digest([{**SAMPLE, "temperatures": {"tool0": 200.0}}])
    end = agent.event(JOB_ENDED, {"outcome": "finished", "samples": claimed})
    assert error(agent.deliver(end)) == (400, "samples_differ")


def test_a_job_end_without_its_start_is_refused(agent: Agent) -> None:
    end = agent.event(JOB_ENDED, {"outcome": "failed", "reason": "nozzle clog"})
    assert error(agent.deliver(end)) == (400, "job_not_started")


def test_an_event_from_the_future_is_refused(agent: Agent) -> None:
    later = agent.event(JOB_STARTED, STARTED)
    agent.sequence = 0
    signed = SignedEvent(
        machine_id=agent.machine_id, sequence=1, occurred_at_ms=later["occurred_at_ms"] + 3_600_000,
        kind=JOB_STARTED, data=STARTED,
    )  # fmt: skip
    body = {
        **later, "occurred_at_ms": signed.occurred_at_ms,
        "signature": "0x" + signed.sign(agent.key, chain_id=settings.CHAIN_ID).hex(),
    }  # fmt: skip
    assert error(agent.deliver(body)) == (400, "clock_ahead")


def test_malformed_events_are_refused_naming_the_field(agent: Agent) -> None:
    bad = agent.event(PROGRESS, SAMPLE, {"data": {**SAMPLE, "completion": 250}})
    response = agent.deliver(bad)
    assert error(response) == (400, "malformed_event")
    assert "progress.completion" in response.json()["error"]["message"]
    too_many = agent.deliver(*[agent.event(PROGRESS, SAMPLE) for _ in range(501)])
    assert too_many.status_code == 400


# --- anchoring -------------------------------------------------------------------------------


def test_starts_ends_and_meters_are_anchored_as_signed_and_a_changed_one_is_named(
    deployed: Anvil, agent: Agent
) -> None:
    # given: a job with two samples, and a meter reading
    samples = [SAMPLE, {**SAMPLE, "layer": 13}]
    delivered = agent.deliver(
        agent.event(JOB_STARTED, STARTED),
        *(agent.event(PROGRESS, sample) for sample in samples),
        agent.event(JOB_ENDED, {"outcome": "finished", "samples": samples_digest(samples)}),
        agent.event(METERS, {"cycles": 1}),
    )
    assert delivered.status_code == 200
    # when
    anchor_all()
    # then: the start, the end and the meters are anchored, the samples through the end's digest
    machine = agent.machine_id
    leaves = set(
        RecordLeaf.objects.filter(kind="machine_event").values_list("record_id", flat=True)
    )
    assert leaves == {f"{machine}.1", f"{machine}.4", f"{machine}.5"}
    assert verify_ledger() == (0, "Ledger verified: every record matches the chain.\n")
    # and an end changed in the database afterwards is named
    MachineEvent.objects.filter(machine=machine, sequence=4).update(data={"outcome": "failed"})
    status, out = verify_ledger()
    assert status == 1 and f"machine_event:{machine}.4" in out


def verify_ledger() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


# --- the shop's pages ------------------------------------------------------------------------


def test_a_shop_registers_a_machine_and_approves_its_agents_key_in_the_browser(
    winning_shop: User, shop_api: Client
) -> None:
    browser = Client()
    browser.force_login(winning_shop)
    # given: a machine registered on its page (after a build volume out of bounds is refused)
    for size in ("0", "100001", "18446744073709551616"):
        refused = browser.post("/shop/machines/", {**MACHINE, "build_z_mm": size})
        assert refused.status_code == 200 and not Machine.objects.exists()
    registered = browser.post("/shop/machines/", MACHINE, follow=True)
    assert "Registered Prusa MK4 #SN-4711" in registered.content.decode()
    machine = Machine.objects.get(serial="SN-4711")
    # when: its agent proposes a key; the shop types a wrong code, then the right one
    agent = Agent(shop_api, machine.pk)
    agent.propose()
    page = f"/shop/machines/{machine.pk}/"
    assert "Key waiting for approval" in browser.get("/shop/machines/").content.decode()
    wrong = browser.post(page, {"pairing_code": "AAAA-AAAA"})
    assert "No waiting key has this code." in wrong.content.decode()
    approved = browser.post(page, {"pairing_code": agent.code}, follow=True).content.decode()
    # then
    assert f"Approved the key {agent.key.address}" in approved
    assert agent.deliver(agent.event(METERS, {"cycles": 3})).status_code == 200
    shown = browser.get(page).content.decode()
    assert "Active" in shown and "meters" in shown and "Cycles" in shown
    # and revoking it there refuses what it signs
    key = machine.keys.get()
    browser.post(f"/shop/machines/{machine.pk}/keys/{key.pk}/revoke/")
    assert error(agent.deliver(agent.event(METERS, {"cycles": 4}))) == (400, "revoked_key")
