"""Track and trace end to end against a real anvil (DESIGN.md section 3 steps 9 to 11): the
winning shop reports production events and quality measurements through the API; they are
anchored; the customer's timeline shows them with their anchoring; the quality gate holds
delivery and acceptance until the required passing records are final; acceptance issues
certificates (page and PDF with a QR code to the public verification page); a record changed in
the database fails verification on the pages and in verify_ledger."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from ledger.models import ChainTx
from marketplace.models import AuditEvent, Job, Order, User
from marketplace.services.escrow import escrow_auto_release_due
from printfair.proofs import ProofBundle
from printshops.models import Certificate, PartRecord
from printshops.selectors import verification_for
from printshops.services.quality_gate import quality_gate
from tests.scenarios import (
    HOLE,
    LENGTH,
    SURFACE,
    Released,
    anchor_all,
    delivered,
    event,
    measured_part,
    post,
    produce,
    quality,
    settle,
    ticket,
)


def pdf_text(response: Any) -> str:
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_events_and_measurements_are_checked_numbered_and_anchored(
    released: Released, customer: User, login: Callable[[User | None], Client]
) -> None:
    job, _, shop = released
    # a part needs a print ticket before anything is reported about it
    refused = event(shop, job, "P-1", "print_started", machine="M1", material_lot="L1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "unknown_part"
    ticket(shop, job, "P-1")
    # each kind's data is checked, with the field named
    bad = event(shop, job, "P-1", "shipped", carrier="DHL", colour="red")
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert "data.tracking_number" in fields and "data.colour" in fields
    finished_first = event(
        shop, job, "P-1", "print_finished", machine="M1", material_lot="L1", outcome="completed"
    )
    assert finished_first.status_code == 409
    started = event(shop, job, "P-1", "print_started", machine="M1", material_lot="L1")
    assert started.status_code == 201, started.json()
    assert started.json()["seq"] == 1 and started.json()["anchor"]["state"] == "waiting"
    # pass or fail comes from the tolerance, never from the client
    claimed = quality(
        shop, job, "P-1", characteristic="Bore", nominal="10", tolerance="0.05", measured="10.2",
        passed=True,
    )  # fmt: skip
    assert claimed.status_code == 400 and "passed" in claimed.json()["error"]["fields"]
    failing = quality(
        shop, job, "P-1", characteristic="Bore", nominal="10.00", tolerance_minus="0.02",
        tolerance_plus="0.05", measured="10.060",
    )  # fmt: skip
    assert failing.status_code == 201 and failing.json()["passed"] is False
    assert failing.json()["data"]["measured"] == "10.060" and failing.json()["seq"] == 2
    edge = quality(
        shop, job, "P-1", characteristic="Bore", nominal="10.00", tolerance="0.05",
        measured="9.95",
    )  # fmt: skip
    assert edge.json()["passed"] is True
    # anchored: final, with a proof bundle that checks offline
    anchor_all()
    listing = shop.get(reverse("api_job_records", args=[job.pk])).json()["results"]
    assert [r["seq"] for r in listing] == [1, 2, 3]
    assert {r["anchor"]["state"] for r in listing} == {"final"}
    bundle = Client().get(reverse("verify_proof", args=[listing[1]["id"]])).json()
    assert ProofBundle.parse(bundle).offline_problems() == []
    # the customer's timeline shows the part's records, anchored; the public page verifies
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'data-part="P-1"' in page and page.count('data-anchor="final"') == 3
    public = Client().get(reverse("verify_record", args=[listing[1]["id"]])).content.decode()
    assert 'data-status="verified"' in public and "Verified against the chain" in public


def test_the_quality_gate_holds_delivery_and_acceptance_until_records_are_final(
    released: Released,
    customer: User,
    other_customer: User,
    winning_shop: User,
    losing_shop: User,
    login: Callable[[User | None], Client],
) -> None:
    job, _, shop = released
    Job.objects.filter(pk=job.pk).update(required_characteristics=["Bore diameter"])
    job.refresh_from_db()
    for number in range(job.quantity):
        produce(shop, job, f"P-{number + 1}", measured="10.09" if number == 0 else "10.01")
    # one part failed its measurement, and nothing is anchored yet: delivery is refused
    gate = shop.get(reverse("api_job_quality_gate", args=[job.pk])).json()
    assert gate["met"] is False and gate["passing"] == 0
    assert "failed (10.09 mm)" in gate["explanation"]
    refused = shop.post(reverse("api_order_delivered", args=[job.pk]))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "quality_gate"
    # a re-measurement that passes (the latest counts), anchored and final: delivery goes
    assert quality(
        shop, job, "P-1", characteristic="Bore diameter", nominal="10.00", tolerance="0.05",
        measured="10.04",
    ).status_code == 201  # fmt: skip
    anchor_all()
    assert shop.get(reverse("api_job_quality_gate", args=[job.pk])).json()["met"] is True
    delivered(job, shop)
    browser = login(customer)
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="quality-gate" data-met="true"' in page
    # a later failing measurement (the latest counts) holds acceptance and the automatic release
    assert quality(
        shop, job, "P-1", characteristic="Bore diameter", nominal="10.00", tolerance="0.05",
        measured="10.08",
    ).status_code == 201  # fmt: skip
    claim_deadline = Order.objects.get(job=job).claim_deadline
    Order.objects.filter(job=job).update(claim_deadline=timezone.now() - timedelta(seconds=1))
    assert escrow_auto_release_due() == 0
    assert not ChainTx.objects.filter(idempotency_key=f"escrow.auto_release:job:{job.pk}").exists()
    assert "Quality gate not met" in post(browser, "order_accept", job)
    Order.objects.filter(job=job).update(claim_deadline=claim_deadline)
    assert quality(
        shop, job, "P-1", characteristic="Bore diameter", nominal="10.00", tolerance="0.05",
        measured="10.04",
    ).status_code == 201  # fmt: skip
    anchor_all()
    assert "Accepted" in post(browser, "order_accept", job)
    settle()
    assert Order.objects.get(job=job).status == Order.Status.RELEASED
    # each shipped part has its certificate, listing its records by hash
    certificates = {c.part_serial: c for c in Certificate.objects.filter(order__job=job)}
    assert set(certificates) == {f"P-{n + 1}" for n in range(job.quantity)}
    first = certificates["P-1"]
    assert [entry["id"] for entry in first.records] == [
        str(pk)
        for pk in PartRecord.objects.filter(part_serial="P-1")
        .order_by("seq")
        .values_list("pk", flat=True)
    ]
    anchor_all()
    html = browser.get(reverse("certificate_detail", args=[job.pk, first.pk])).content.decode()
    verify_url = "http://testserver" + reverse("verify_record", args=[first.pk])
    assert "<svg" in html and verify_url in html and "10.04" in html
    pdf = browser.get(reverse("certificate_download", args=[job.pk, first.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "P-1" in text and verify_url in "".join(text.split())
    # a logged-out visitor scanning the QR code sees the certificate verified against the chain
    public = Client().get(reverse("verify_record", args=[first.pk])).content.decode()
    assert 'data-status="verified"' in public
    assert public.count('data-status="verified"') >= 1 + len(first.records)
    # the shop sees its certificate too; nobody else does
    cert_pdf = reverse("certificate_download", args=[job.pk, first.pk])
    assert login(winning_shop).get(cert_pdf).status_code == 200
    assert login(other_customer).get(cert_pdf).status_code == 404
    assert login(losing_shop).get(cert_pdf).status_code == 404
    assert Client().get(cert_pdf).status_code == 302


def test_the_latest_measurement_is_the_verdict_of_the_gate_the_certificate_and_the_public_page(
    released: Released, customer: User, login: Callable[[User | None], Client]
) -> None:
    job, _, shop = released
    Job.objects.filter(pk=job.pk).update(quantity=2, required_characteristics=[HOLE, LENGTH])
    # given: a part for each case of the verdict
    measured_part(shop, job, "P-1", (HOLE, "3.30"), (HOLE, "3.22"), (LENGTH, "42.01"))
    measured_part(shop, job, "P-2", (HOLE, "3.22"), (HOLE, "3.30"), (LENGTH, "42.01"))
    measured_part(shop, job, "P-3", (HOLE, "3.22"))  # a required characteristic not measured
    measured_part(shop, job, "P-4", (HOLE, "3.22"), (LENGTH, "42.01"), (SURFACE, "1.90"))
    measured_part(shop, job, "P-5", (HOLE, "3.22"), (LENGTH, "42.01"))
    anchor_all()
    passes = {"P-1": True, "P-2": False, "P-3": False, "P-4": False, "P-5": True}
    # the gate counts a failure followed by a passing retest, not a pass followed by a failure
    order = Order.objects.select_related("job").get(job=job)
    gate = quality_gate(order=order)
    assert {part.part_serial: part.passes for part in gate.parts} == passes and gate.met
    problems = {part.part_serial: part.problems for part in gate.parts}
    assert problems["P-2"] == {HOLE: "failed (3.30 mm)"}
    assert problems["P-3"] == {LENGTH: "not measured"}
    assert problems["P-4"] == {SURFACE: "failed (1.90 mm)"}

    # when: delivered, accepted, the escrow released
    delivered(job, shop)
    browser = login(customer)
    assert "Accepted" in post(browser, "order_accept", job)
    settle()
    assert Order.objects.get(job=job).status == Order.Status.RELEASED

    # then: a certificate for each part the gate counts as passing, and for no other
    certificates = {c.part_serial: c for c in Certificate.objects.filter(order__job=job)}
    assert {serial: serial in certificates for serial in passes} == passes
    withheld = {
        event.data["part"]: event.data["characteristics"]
        for event in AuditEvent.objects.filter(verb="certificate.withheld", target_id=order.pk)
    }
    assert withheld == {
        "P-2": {HOLE: "fail"},
        "P-3": {LENGTH: "not measured"},
        "P-4": {SURFACE: "fail"},
    }
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert page.count('class="alert alert-warning small py-2 part-no-certificate"') == 3
    assert f"the part did not pass ({HOLE}: failed at its latest measurement)" in page
    # each certificate states the gate's verdict, per characteristic too
    gate = quality_gate(order=order)
    for part in gate.parts:
        if part.part_serial in certificates:
            stated = verification_for(subject=certificates[part.part_serial], on_chain=False)
            assert stated.verdict is not None and part.verdict is not None
            assert stated.verdict.status == part.verdict.status == "pass"
            assert [(c.characteristic, c.status) for c in stated.verdict.characteristics] == [
                (c.characteristic, c.status) for c in part.verdict.characteristics
            ]

    # the certificate of the part retested: PASS, the failed measurement listed as superseded
    first = certificates["P-1"]
    html = browser.get(reverse("certificate_detail", args=[job.pk, first.pk])).content.decode()
    assert 'id="certificate-result" data-verdict="pass"' in html
    assert (
        "Result: PASS — 2 characteristics, each within tolerance at its latest measurement. "
        "1 earlier measurement, superseded by a retest, is listed and not counted."
    ) in html
    assert html.count('data-superseded="true"') == 1 and "3.30 mm" in html
    assert "superseded by a retest, not counted" in html
    assert 'badge text-bg-danger">FAIL' not in html
    assert 'id="anchoring-note"' in html  # the certificate itself is anchored with the next batch
    verify_url = "http://testserver" + reverse("verify_record", args=[first.pk])
    pdf = browser.get(reverse("certificate_download", args=[job.pk, first.pk]))
    text = pdf_text(pdf)
    assert "Result: PASS — 2 characteristics" in text and "FAIL" not in text
    assert "3.30 mm" in text and "superseded by a retest, not counted" in text
    assert "retest, the latest: it decides" in text
    # made before its own anchor is final: it says where to look, not a frozen "pending"
    assert "not anchored yet when this copy was made" in text
    pending = f"scan the QR code or open {verify_url} to see each anchor's current state"
    assert "".join(pending.split()) in "".join(text.split())

    # a logged-out visitor sees the verdict per characteristic and overall
    public = Client().get(reverse("verify_record", args=[first.pk])).content.decode()
    assert 'id="certificate-verdict" data-verdict="pass"' in public
    assert f'data-characteristic="{HOLE}" data-result="pass"' in public
    assert f'data-characteristic="{LENGTH}" data-result="pass"' in public
    assert 'class="superseded"><span class="mono">3.30 mm</span> fail' in public
    assert "superseded by a retest</span>" in public  # marked in the list of records too
    assert (
        f"Result stated: <strong>PASS</strong> — {HOLE} PASS; {LENGTH} PASS (1 earlier "
        "measurement superseded by a retest)."
    ) in public

    # once every anchor is final the PDF says so, and states the same result
    anchor_all()
    text = pdf_text(browser.get(reverse("certificate_download", args=[job.pk, first.pk])))
    assert "Result: PASS" in text and "copy was made" not in text
    assert (
        'id="anchoring-note"'
        not in browser.get(reverse("certificate_detail", args=[job.pk, first.pk])).content.decode()
    )

    # the deciding retest quietly "improved" in the database: neither counts it any more
    retest = PartRecord.objects.get(part_serial="P-1", characteristic=HOLE, data__measured="3.22")
    PartRecord.objects.filter(pk=retest.pk).update(data={**retest.data, "measured": "3.20"})
    assert quality_gate(order=order).parts[0].problems == {HOLE: "changed since it was anchored"}
    public = Client().get(reverse("verify_record", args=[first.pk])).content.decode()
    assert 'id="certificate-verdict" data-verdict="fail"' in public
    assert f'data-characteristic="{HOLE}" data-result="altered"' in public
    html = browser.get(reverse("certificate_detail", args=[job.pk, first.pk])).content.decode()
    assert 'data-verdict="fail"' in html and f"{HOLE}: changed since it was anchored" in html


def test_a_record_changed_in_the_database_fails_everywhere(
    released: Released, customer: User, login: Callable[[User | None], Client]
) -> None:
    job, _, shop = released
    produce(shop, job, "P-1")
    anchor_all()
    record = PartRecord.objects.get(part_serial="P-1", kind="quality")
    # the measurement is quietly "improved" in the database
    PartRecord.objects.filter(pk=record.pk).update(data={**record.data, "measured": "10.00"})
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_ledger", stdout=out, stderr=io.StringIO())
    assert f"ALTERED       part_record:{record.pk}" in out.getvalue()
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'data-failing="true"' in page and "altered since anchoring" in page
    public = Client().get(reverse("verify_record", args=[record.pk])).content.decode()
    assert 'data-status="failed"' in public and "was changed after it was anchored" in public
    bundle = ProofBundle.parse(
        json.loads(Client().get(reverse("verify_proof", args=[record.pk])).content)
    )
    assert any("does not match its hash" in problem for problem in bundle.offline_problems())
    # and the quality gate counts what was anchored, never the changed record
    Job.objects.filter(pk=job.pk).update(required_characteristics=["Bore diameter"])
    gate = shop.get(reverse("api_job_quality_gate", args=[job.pk])).json()
    assert "Part P-1, Bore diameter: changed since it was anchored." in gate["explanation"]


def test_a_release_without_shipped_parts_says_why_there_is_no_certificate(
    released: Released, customer: User, login: Callable[[User | None], Client]
) -> None:
    job, _, shop = released
    ticket(shop, job, "P-1")
    assert (
        event(shop, job, "P-1", "print_started", machine="M1", material_lot="L1").status_code == 201
    )
    anchor_all()
    delivered(job, shop)
    browser = login(customer)
    assert "Accepted" in post(browser, "order_accept", job)
    settle()
    assert Order.objects.get(job=job).status == Order.Status.RELEASED
    assert not Certificate.objects.filter(order__job=job).exists()
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="no-certificates"' in page and "it reported none" in page


def test_the_arbiter_sees_each_parts_records_and_opens_their_evidence(
    released: Released, admin_user: User, login: Callable[[User | None], Client]
) -> None:
    job, _, shop = released
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
    photo = shop.post(
        reverse("api_job_evidence", args=[job.pk]), {"file": SimpleUploadedFile("bore.png", png)}
    ).json()
    ticket(shop, job, "P-1")
    failing = quality(
        shop, job, "P-1", characteristic="Bore diameter", nominal="10.00", tolerance="0.05",
        measured="10.09", evidence=[photo["id"]],
    )  # fmt: skip
    assert failing.status_code == 201, failing.json()
    anchor_all()
    admin = login(admin_user)
    order = Order.objects.get(job=job)
    resolve = reverse("admin:marketplace_order_resolve", args=[order.pk])
    page = admin.get(resolve).content.decode()
    assert 'data-part="P-1"' in page and "Bore diameter 10.09 mm" in page and "FAIL" in page
    download = reverse("admin:printshops_evidencefile_download", args=[photo["id"]])
    assert f'href="{download}">bore.png</a>' in page
    opened = admin.get(download)
    assert opened["Content-Type"] == "image/png"
    assert b"".join(opened.streaming_content) == png
    # a record changed in the database shows as such to the arbiter too
    record = PartRecord.objects.get(pk=failing.json()["id"])
    PartRecord.objects.filter(pk=record.pk).update(data={**record.data, "measured": "10.01"})
    page = admin.get(resolve).content.decode()
    assert "altered since anchoring" in page and "Part P-1 fails verification" in page


def test_the_shop_follows_its_orders_production_on_a_read_only_page(
    released: Released,
    winning_shop: User,
    losing_shop: User,
    login: Callable[[User | None], Client],
) -> None:
    job, _, shop = released
    Job.objects.filter(pk=job.pk).update(required_characteristics=["Bore diameter"])
    browser = login(winning_shop)
    detail = reverse("shop_order_detail", args=[job.pk])
    assert f'href="{detail}"' in browser.get(reverse("shop_orders")).content.decode()
    page = browser.get(detail).content.decode()
    assert 'id="quality-gate" data-met="false"' in page and 'data-part="P-1"' not in page
    produce(shop, job, "P-1")
    page = browser.get(detail).content.decode()
    # the same timeline as the customer's, polling the shop's own address
    timeline = reverse("shop_order_timeline", args=[job.pk])
    assert 'data-part="P-1"' in page and f'hx-get="{timeline}"' in page
    assert page.count('data-anchor="waiting"') == 4
    anchor_all()
    polled = browser.get(timeline).content.decode()
    assert polled.count('data-anchor="final"') == 4 and 'id="gate-badge"' in polled
    # another shop sees neither
    other = login(losing_shop)
    assert other.get(detail).status_code == 404 and other.get(timeline).status_code == 404
