"""Design release end to end against a real anvil (DESIGN.md section 3 step 8): funding the
escrow releases each design to the winning shop under a licence issued on DesignRegistry; the
shop downloads the ciphertext (with ranges) and the wrapped key and decrypts; print tickets run
out at the licence's count; the licence closes when the order is accepted."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import ChainTx, RecordLeaf
from marketplace.models import AuditEvent, DesignFile, Order, User
from printfair.envelope import decrypt_chunks
from printfair.hpke import unwrap_for_shop
from printshops.models import DesignRelease, Licence, PrintShopProfile, PrintTicket
from printshops.services import licence_id
from tests.scenarios import Released, awarded, delivered, funded, post, settle


def test_funding_releases_the_designs_under_a_licence_on_chain(
    released: Released,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    job, private_key, shop = released
    # then: a licence for quantity plus spares, issued on chain for the job's designs
    licence = Licence.objects.get(order__job=job)
    assert licence.prints_allowed == job.quantity + job.spares and licence.is_open
    assert licence.issue_tx is not None
    assert ChainTx.objects.get(pk=licence.issue_tx.pk).status == ChainTx.Status.FINAL
    registry = contract(web3_client(), "DesignRegistry")
    order = Order.objects.get(job=job)
    on_chain = registry.functions.licence(licence_id(job.pk)).call()
    assert on_chain[:3] == [job.pk, order.shop_address, licence.prints_allowed]
    design_file = DesignFile.objects.get(job=job)
    covers = registry.functions.licenceCovers(licence_id(job.pk), bytes.fromhex(design_file.sha256))
    assert covers.call() is True
    # the shop lists its release, downloads the ciphertext and decrypts it locally
    (item,) = shop.get(reverse("api_releases"), {"job": job.pk}).json()["results"]
    assert item["id"] == str(design_file.pk) and item["sha256"] == design_file.sha256
    assert item["licence"] == {
        "prints_allowed": licence.prints_allowed, "prints_taken": 0, "open": True,
        "closed_at": None,
    }  # fmt: skip
    data_key = unwrap_for_shop(
        base64.b64decode(item["wrapped_key"]), kem=item["kem"], private_key=private_key,
        job_id=job.pk, shop_id=item["shop"], file_id=design_file.id.bytes,
    )  # fmt: skip
    url = reverse("api_release_ciphertext", args=[design_file.pk])
    whole = shop.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    ciphertext = b"".join(whole.streaming_content)
    assert len(ciphertext) == item["ciphertext_bytes"] == int(whole["Content-Length"])
    plaintext = b"".join(decrypt_chunks([ciphertext], data_key, design_file.id.bytes))
    assert hashlib.sha256(plaintext).hexdigest() == design_file.sha256
    # a broken download resumes from where it stopped
    rest = shop.get(url, HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE=whole["ETag"])
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 1000-{len(ciphertext) - 1}/{len(ciphertext)}"
    assert b"".join(rest.streaming_content) == ciphertext[1000:]
    middle = shop.get(url, HTTP_RANGE="bytes=10-19")
    assert b"".join(middle.streaming_content) == ciphertext[10:20]
    assert shop.get(url, HTTP_RANGE="bytes=-500").status_code == 200  # unsupported: ignored
    octets = shop.get(url, HTTP_ACCEPT="application/octet-stream")
    assert octets.status_code == 200 and octets["Content-Type"] == "application/octet-stream"
    changed = shop.get(url, HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE='"another"')
    assert changed.status_code == 200
    refused = shop.get(url, HTTP_RANGE=f"bytes={len(ciphertext)}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{len(ciphertext)}"
    # the losing shop sees nothing and gets nothing
    loser = api_client(losing_shop)
    assert loser.get(reverse("api_releases")).json()["results"] == []
    assert loser.get(url).status_code == 404


def test_print_tickets_stop_at_the_licence_and_the_licence_closes_on_acceptance(
    released: Released,
    customer: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job, _, shop = released
    licence = Licence.objects.get(order__job=job)
    tickets = reverse("api_job_tickets", args=[job.pk])
    # mistakes are explained
    missing = shop.post(tickets, {"machine": " ", "part_serial": "A-1"}, "application/json")
    assert missing.status_code == 400 and "machine" in missing.json()["error"]["fields"]
    # when: every print the licence allows is taken
    for n in range(1, licence.prints_allowed + 1):
        taken = shop.post(
            tickets, {"machine": "EOS P396 #2", "part_serial": f"X4-{n:03}"}, "application/json"
        )
        assert taken.status_code == 201, taken.json()
        assert taken.json()["number"] == n
    # then: the next is refused plainly
    over = shop.post(
        tickets, {"machine": "EOS P396 #2", "part_serial": "X4-999"}, "application/json"
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "licence_exhausted"
    assert f"All {licence.prints_allowed} prints" in over.json()["error"]["message"]
    assert PrintTicket.objects.filter(licence=licence).count() == licence.prints_allowed
    assert RecordLeaf.objects.filter(kind="print_ticket").count() == licence.prints_allowed
    assert shop.get(tickets).json()["count"] == licence.prints_allowed
    # the customer watches the prints on the job page
    browser = login(customer)
    page = browser.get(reverse("job_order_panel", args=[job.pk])).content.decode()
    allowed = licence.prints_allowed
    assert f"{allowed} of {allowed}" in page and "X4-001" in page and "licence open" in page
    # the losing shop holds no licence
    loser = api_client(losing_shop).post(
        tickets, {"machine": "M", "part_serial": "S"}, "application/json"
    )
    assert loser.status_code == 404
    # when: the order is delivered and accepted
    delivered(job, shop)
    assert "Accepted" in post(login(customer), "order_accept", job)
    settle()
    # then: the licence is closed, here and on chain, and the design is no longer served
    licence.refresh_from_db()
    assert licence.closed_at is not None and licence.close_reason == "accepted"
    assert licence.close_tx is not None
    assert ChainTx.objects.get(pk=licence.close_tx.pk).status == ChainTx.Status.FINAL
    registry = contract(web3_client(), "DesignRegistry")
    assert registry.functions.licence(licence_id(job.pk)).call()[4] > 0
    release = DesignRelease.objects.get(licence=licence)
    closed = shop.get(reverse("api_release_ciphertext", args=[release.design_file_id]))
    assert closed.status_code == 403 and closed.json()["error"]["code"] == "licence_closed"
    page = browser.get(reverse("job_order_panel", args=[job.pk])).content.decode()
    assert "licence closed (accepted)" in page
    after = shop.post(tickets, {"machine": "M", "part_serial": "S"}, "application/json")
    assert after.status_code == 409 and after.json()["error"]["code"] == "licence_closed"


def test_a_shop_key_that_cannot_take_the_release_does_not_stop_the_escrow(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    PrintShopProfile.objects.filter(organization=winning_shop.organization).update(hpke_kem="")
    funded(job, login(customer))
    settle()
    # the order is funded and the licence open; the file waits, and the operators are told
    licence = Licence.objects.get(order__job=job)
    assert Order.objects.get(job=job).status == Order.Status.FUNDED and licence.is_open
    assert not DesignRelease.objects.filter(licence=licence).exists()
    failed = AuditEvent.objects.get(verb="design_release.failed")
    assert "HPKE" in failed.data["error"] or "KEM" in failed.data["error"]
