"""Releasing designs to the winning shop (DESIGN.md section 3 step 8): when the escrow is funded,
each design file's data key is wrapped with HPKE to the shop's registered key (printfair/hpke.py)
and a licence fixes how many prints it may make, issued on DesignRegistry through the outbox.
Every print takes a ticket from the licence's atomic counter, anchored as a record; the licence
closes when the order is accepted, resolved or refunded."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone
from eth_utils.crypto import keccak

from config.errors import DomainError
from ledger.services.anchoring import record_leaf_add
from ledger.services.outbox import chaintx_enqueue
from marketplace.models import Order, User
from marketplace.services.audit import audit_record
from marketplace.services.designs import design_file_data_key
from printfair.hpke import ReleaseKeyError, wrap_for_shop
from printshops.models import DesignRelease, Licence, PrintShopProfile, PrintTicket
from printshops.records import print_ticket_content
from printshops.services.shops import require_shop

logger = logging.getLogger(__name__)

TICKET_FIELD_MAX = 100


def licence_id(job_id: int) -> bytes:
    """The licence's id on DesignRegistry: one licence per job."""
    return keccak(text=f"printfair/licence/job/{job_id}")


@transaction.atomic
def licence_open(*, order: Order) -> Licence:
    """The escrow of `order` is funded (final): release every design file of its job to the
    winning shop and issue the licence on chain. Runs once per order; a repeat returns the
    licence."""
    existing = Licence.objects.filter(order=order).first()
    if existing is not None:
        return existing
    job = order.job
    profile = PrintShopProfile.objects.get(organization=order.shop_id)
    licence = Licence.objects.create(
        order=order, organization_id=order.shop_id, prints_allowed=job.quantity + job.spares
    )
    files = list(job.files.order_by("original_name"))
    for design_file in files:
        try:
            wrapped = wrap_for_shop(
                design_file_data_key(design_file),
                kem=profile.hpke_kem,
                public_key=bytes(profile.hpke_public_key or b""),
                job_id=job.pk,
                shop_id=order.shop_id,
                file_id=design_file.id.bytes,
            )
        except ReleaseKeyError as exc:
            # The shop's registered key cannot take it (none, or unusable): the escrow step must
            # still apply, so this file waits for operators, who see why in the audit trail.
            logger.error("design %s not released to %s: %s", design_file.pk, profile, exc)
            audit_record(
                actor=None, verb="design_release.failed", target=design_file, error=str(exc)
            )
            continue
        DesignRelease.objects.create(
            licence=licence, design_file=design_file, hpke_kem=profile.hpke_kem, wrapped_key=wrapped
        )
    licence.issue_tx = chaintx_enqueue(
        idempotency_key=f"licence.issue:job:{job.pk}",
        contract="DesignRegistry",
        function="issueLicence",
        args=[
            "0x" + licence_id(job.pk).hex(),
            job.pk,
            order.shop_address,
            licence.prints_allowed,
            job.organization.owner_ref,
            ["0x" + design_file.sha256 for design_file in files],
        ],
    )
    licence.save(update_fields=["issue_tx"])
    audit_record(
        actor=None,
        verb="licence.opened",
        target=licence,
        job=job.pk,
        prints_allowed=licence.prints_allowed,
        files=[str(f.pk) for f in files],
    )
    return licence


@transaction.atomic
def licence_close(*, order: Order, reason: str) -> Licence | None:
    """No more prints: the order was accepted, resolved or refunded (or its funding was undone
    by a reorg, which also revokes the releases). Closed on chain too."""
    licence = Licence.objects.select_for_update().filter(order=order).first()
    if licence is None or licence.closed_at is not None:
        return licence
    licence.closed_at = timezone.now()
    licence.close_reason = reason
    licence.close_tx = chaintx_enqueue(
        idempotency_key=f"licence.close:job:{order.job_id}",
        contract="DesignRegistry",
        function="closeLicence",
        args=["0x" + licence_id(order.job_id).hex()],
        waits_for=licence.issue_tx,
    )
    licence.save(update_fields=["closed_at", "close_reason", "close_tx"])
    if reason == "funding_reorged":
        licence.releases.update(revoked_at=timezone.now())
    audit_record(actor=None, verb="licence.closed", target=licence, reason=reason)
    return licence


def _ticket_field(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise DomainError(
            f"Give the {name.replace('_', ' ')}.", fields={name: ["This field is required."]}
        )
    if len(value) > TICKET_FIELD_MAX or not value.isprintable():
        message = f"At most {TICKET_FIELD_MAX} printable characters."
        raise DomainError(f"The {name.replace('_', ' ')} is not valid.", fields={name: [message]})
    return value


@transaction.atomic
def print_ticket_take(*, actor: User, job_id: int, machine: str, part_serial: str) -> PrintTicket:
    """One more print under the shop's licence for the job, or a clear refusal once all the
    prints allowed are taken or the licence is closed."""
    profile = require_shop(actor)
    machine = _ticket_field("machine", machine)
    part_serial = _ticket_field("part_serial", part_serial)
    licence = Licence.objects.filter(
        order__job_id=job_id, organization=profile.organization
    ).first()
    if licence is None:
        raise Http404("Your shop holds no licence for this job.")
    # The counter: one UPDATE that only succeeds below the allowance, so concurrent tickets
    # never exceed it; the row stays locked until this transaction ends.
    taken = Licence.objects.filter(
        pk=licence.pk, closed_at__isnull=True, prints_taken__lt=F("prints_allowed")
    ).update(prints_taken=F("prints_taken") + 1)
    licence.refresh_from_db(fields=["prints_taken", "closed_at"])
    if not taken:
        if licence.closed_at is not None:
            raise DomainError(
                "This licence is closed: the order is settled, so no more prints are allowed.",
                code="licence_closed",
                status=409,
            )
        raise DomainError(
            f"All {licence.prints_allowed} prints this licence allows are taken: no more tickets.",
            code="licence_exhausted",
            status=409,
        )
    ticket = PrintTicket.objects.create(
        licence=licence,
        number=licence.prints_taken,
        machine=machine,
        part_serial=part_serial,
        created_by=actor,
    )
    record_leaf_add(
        kind="print_ticket", record_id=str(ticket.pk), record=print_ticket_content(ticket)
    )
    audit_record(actor=actor, verb="print_ticket.taken", target=ticket, job=job_id)
    return ticket
