"""A machine's signed prints on the parts' timelines (issue 17, item 3): the start of a print the
agent was given a print ticket for, and its end, are machine-attested records of the ticket's
part, beside what the shop reports; the print file is compared with the released design. Each
way a machine's event could claim a print it may not has a test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, cast

import pytest
from django.test import Client
from django.urls import reverse

from ledger.anvil import Anvil
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import RecordLeaf
from machines.models import Machine, MachineEvent
from marketplace.models import DesignFile, Job
from printfair.canonical import record_hash
from printfair.cli.attested import MachineKey as MachineKeyOnChain
from printfair.cli.attested import key_problem
from printfair.cli.main import main as cli_main
from printfair.machine_events import JOB_ENDED, JOB_STARTED, attested_signer
from printshops.models import PartRecord
from printshops.records import part_record_content
from tests.machines.test_machines import MACHINE, Agent
from tests.scenarios import Released, anchor_all, event, settle
from tests.scenarios import ticket as new_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def paired(released: Released) -> tuple[Agent, Any, Client]:
    """A registered machine of the winning shop with its key approved, and the funded job."""
    job, _, shop = released
    machine = shop.post("/api/v1/machines/", MACHINE, content_type="application/json").json()
    agent = Agent(shop, machine["id"])
    assert agent.propose().status_code == 201
    approved = shop.post(
        f"/api/v1/machines/{machine['id']}/keys/approve/",
        {"pairing_code": agent.code},
        content_type="application/json",
    )
    assert approved.status_code == 200
    return agent, job, shop


def take_ticket(shop: Client, job: Any, serial: str) -> str:
    return new_ticket(shop, job, serial, machine="Prusa MK4 #SN-4711")


def started(job: Any, ticket: str, **changes: Any) -> dict[str, Any]:
    design = DesignFile.objects.filter(job=job).order_by("original_name").first()
    assert design is not None
    return {
        "file_name": design.original_name,
        "file_sha256": design.sha256,
        "file_size": 1234,
        "ticket": ticket,
        "derived_from": None,
        **changes,
    }


ENDED = {"outcome": "finished", "duration_s": 3600.0, "material_cm3": 12.5, "samples": None}


def test_a_machine_attests_the_start_and_end_of_the_print_its_ticket_names(
    paired: tuple[Agent, Any, Client], login: Any, customer: Any, winning_shop: Any
) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "P-1")
    # when: the machine prints the released design for the ticket
    response = agent.deliver(
        agent.event(JOB_STARTED, started(job, ticket)), agent.event(JOB_ENDED, ENDED)
    )
    # then: both are on the part's timeline, machine-attested, numbered after the shop's
    assert response.status_code == 200, response.json()
    assert response.json()["notes"] == []
    start, end = PartRecord.objects.filter(part_serial="P-1").order_by("seq")
    assert (start.seq, start.kind, end.seq, end.kind) == (1, "print_started", 2, "print_finished")
    assert start.data["design"] == "as released"
    assert end.data["outcome"] == "completed" and end.data["duration_s"] == 3600.0
    # the anchored record carries the machine's signed event, which anyone can check
    leaf = RecordLeaf.objects.get(kind="part_record", record_id=str(start.pk))
    content = part_record_content(start)
    assert leaf.record_hash == "0x" + record_hash(content).hex()
    assert attested_signer(cast(dict[str, Any], content["attested_by"])) == agent.key.address
    assert MachineEvent.objects.get(sequence=1).attested_record_id == start.pk
    shop_page = login(winning_shop).get(f"/shop/machines/{agent.machine_id}/").content.decode()
    assert shop_page.count('class="attested-note"') == 2
    # the customer sees it as machine-attested, beside what the shop reports
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert page.count('data-reported-by="machine"') == 2
    # and the public verification page checks the machine's signature
    public = Client().get(reverse("verify_record", args=[start.pk])).content.decode()
    assert "Machine-attested: signed by machine" in public and agent.key.address in public


def test_a_sliced_file_declared_derived_from_the_design_is_attested_as_derived(
    paired: tuple[Agent, Any, Client],
) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "P-2")
    design_sha = started(job, ticket)["file_sha256"]
    gcode = started(
        job,
        ticket,
        file_name="part.gcode",
        file_sha256=hashlib.sha256(b"G1 X1").hexdigest(),
        derived_from={"design_sha256": design_sha, "slicer": "PrusaSlicer 2.8", "profile": "0.2"},
    )
    assert agent.deliver(agent.event(JOB_STARTED, gcode)).status_code == 200
    record = PartRecord.objects.get(part_serial="P-2")
    assert record.data["design"] == "derived from the released design"
    assert record.data["slicer"] == "PrusaSlicer 2.8"


def test_a_print_of_another_file_is_attested_and_flagged(
    paired: tuple[Agent, Any, Client], login: Any, customer: Any
) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "P-3")
    other = started(job, ticket, file_sha256="cd" * 32)
    assert agent.deliver(agent.event(JOB_STARTED, other)).status_code == 200
    assert PartRecord.objects.get(part_serial="P-3").data["design"] == "matches no released design"
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "print file matches no released design" in page


@pytest.mark.parametrize("ticket", ["999999", "not-a-ticket"])
def test_a_machine_cannot_attest_a_ticket_that_is_not_its_shops(
    paired: tuple[Agent, Any, Client], ticket: str, login: Any, winning_shop: Any
) -> None:
    agent, job, _ = paired
    # when: its start names a ticket that is no ticket of its shop
    response = agent.deliver(agent.event(JOB_STARTED, started(job, ticket)))
    # then: the machine's event is kept (it is what the machine did), nothing is attested, and
    # the agent is told why
    assert response.status_code == 200
    [note] = response.json()["notes"]
    assert note["sequence"] == 1 and "ticket" in note["message"]
    assert not PartRecord.objects.exists()
    assert MachineEvent.objects.get().attestation_note == note["message"]
    # and the shop sees why on the machine's page
    page = login(winning_shop).get(f"/shop/machines/{agent.machine_id}/").content.decode()
    assert "Not on a part's timeline: " in page and 'class="text-danger attestation-note"' in page


def test_one_ticket_is_one_print(paired: tuple[Agent, Any, Client]) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "P-4")
    assert agent.deliver(agent.event(JOB_STARTED, started(job, ticket))).status_code == 200
    # a second machine of the shop claims the same ticket
    second = shop.post(
        "/api/v1/machines/", {**MACHINE, "serial": "SN-2"}, content_type="application/json"
    ).json()["id"]
    other = Agent(shop, second)
    other.propose()
    shop.post(
        f"/api/v1/machines/{second}/keys/approve/",
        {"pairing_code": other.code},
        content_type="application/json",
    )
    response = other.deliver(other.event(JOB_STARTED, started(job, ticket)))
    assert "already printed" in response.json()["notes"][0]["message"]
    # nor does the first machine print it twice: a print beyond the licence's
    again = agent.deliver(agent.event(JOB_STARTED, started(job, ticket)))
    assert "each print takes its own ticket" in again.json()["notes"][0]["message"]
    assert PartRecord.objects.filter(part_serial="P-4").count() == 1
    assert Machine.objects.get(pk=second).last_sequence == 1


def test_a_record_whose_machine_signature_was_changed_fails_verification(
    paired: tuple[Agent, Any, Client],
) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "P-5")
    agent.deliver(agent.event(JOB_STARTED, started(job, ticket)))
    record = PartRecord.objects.get(part_serial="P-5")
    # someone with the database claims the machine printed a different file
    signed = cast(dict[str, Any], record.attestation)
    record.attestation = {**signed, "data": {**signed["data"], "file_sha256": "ee" * 32}}
    record.save()
    public = Client().get(reverse("verify_record", args=[record.pk])).content.decode()
    assert 'data-machine-signed="false"' in public
    assert "does not hash to the data hash" in public


def test_a_job_requiring_machine_attested_prints_waits_for_them(
    paired: tuple[Agent, Any, Client],
) -> None:
    agent, job, shop = paired
    # given: a job whose customer requires every part's print signed by the machine
    Job.objects.filter(pk=job.pk).update(requires_machine_attestation=True)
    gate_url = reverse("api_job_quality_gate", args=[job.pk])
    serials = [f"Q-{n}" for n in range(job.quantity)]
    tickets = [take_ticket(shop, job, serial) for serial in serials]
    # when: the shop reports the first print itself
    for kind, data in (
        ("print_started", {"machine": "MK4", "material_lot": "L1"}),
        ("print_finished", {"machine": "MK4", "material_lot": "L1", "outcome": "completed"}),
    ):
        assert event(shop, job, serials[0], kind, **data).status_code == 201
    anchor_all()
    # then: it does not count
    gate = shop.get(gate_url).json()
    assert not gate["met"] and gate["passing"] == 0
    assert "no print signed by the machine" in gate["explanation"]
    # when: the machine prints every part, one of them failing
    for n, ticket in enumerate(tickets):
        outcome = "failed" if n == 0 else "finished"
        agent.deliver(
            agent.event(JOB_STARTED, started(job, ticket)),
            agent.event(JOB_ENDED, {**ENDED, "outcome": outcome}),
        )
    anchor_all()
    gate = shop.get(gate_url).json()
    assert gate["passing"] == job.quantity - 1
    assert "the machine signed a failed print" in gate["explanation"]
    # and: the failed part printed again on a ticket of its own completes the gate
    reprint = take_ticket(shop, job, serials[0])
    agent.deliver(agent.event(JOB_STARTED, started(job, reprint)), agent.event(JOB_ENDED, ENDED))
    anchor_all()
    assert shop.get(gate_url).json()["met"] is True


def test_anyone_verifies_a_machine_attested_record_with_the_cli(
    paired: tuple[Agent, Any, Client],
    anvil_node: Anvil,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent, job, shop = paired
    ticket = take_ticket(shop, job, "V-1")
    agent.deliver(agent.event(JOB_STARTED, started(job, ticket)))
    settle()  # the machine and its key on the MachineRegistry
    anchor_all()
    record = PartRecord.objects.get(part_serial="V-1")
    bundle = Client().get(reverse("verify_proof", args=[record.pk])).json()
    registry = contract(web3_client(), "MachineRegistry").address
    assert bundle["machine_registry"] == registry
    saved = tmp_path / "proof.json"
    saved.write_text(json.dumps(bundle))
    monkeypatch.setenv("PRINTFAIR_HOME", str(tmp_path / "nobody"))

    def verify(*extra: str) -> tuple[int, str, str]:
        status = cli_main(["verify", str(saved), "--rpc", anvil_node.url, *extra])
        out, err = capsys.readouterr()
        return status, out, err

    # when: anyone, with no account, asks their own node
    status, out, err = verify()
    # then: the anchor and the machine's key on the registry
    assert status == 0, err
    assert (
        f"  machine-attested: record {record.pk} signed by machine {agent.machine_id} (event 1) "
        f"with key {agent.key.address}, registered for it in MachineRegistry {registry} since "
    ) in out
    # the key revoked after the record was anchored: the record still stands
    shop.post(
        f"/api/v1/machines/{agent.machine_id}/keys/revoke/",
        {"address": agent.key.address},
        content_type="application/json",
    )
    settle()
    assert verify()[0] == 0
    # a registry that is not the one the key is on: refused, saying so
    anchor = contract(web3_client(), "RecordAnchor").address
    status, _, err = verify("--machines", anchor)
    assert status == 3 and f"{anchor} cannot say whose key signed it" in err


@pytest.mark.parametrize(
    ("key", "anchored_at", "problem"),
    [
        (MachineKeyOnChain(0, 0, 0, 0, 0), 100, "was never registered for a machine"),
        (MachineKeyOnChain(8, 1, 0, 50, 0), 100, "is machine 8's, not machine 7's"),
        (MachineKeyOnChain(7, 6, 0, 50, 0), 100, "signs machine 7's events from 6 on"),
        (MachineKeyOnChain(7, 1, 5, 50, 0), 100, "was replaced from machine 7's event 5"),
        (MachineKeyOnChain(7, 1, 0, 50, 90), 100, "was revoked before this record was anchored"),
        (MachineKeyOnChain(7, 1, 0, 50, 90), None, "was revoked before this record was anchored"),
        (MachineKeyOnChain(7, 1, 0, 50, 120), 100, ""),
        (MachineKeyOnChain(7, 1, 0, 50, 100), 100, ""),
        (MachineKeyOnChain(7, 1, 6, 50, 0), 100, ""),
    ],
)
def test_a_machine_key_backs_only_the_events_the_registry_says_it_signs(
    key: MachineKeyOnChain, anchored_at: int | None, problem: str
) -> None:
    attested = {"machine_id": 7, "sequence": 5, "signer": "0x" + "ab" * 20}
    found = key_problem(attested, key, anchored_at)
    assert (problem in found) if problem else found == ""
