"""What the ledger's events mean to the marketplace (ledger/handlers.py dispatches them)."""

from __future__ import annotations

import logging

from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace.models import AuditEvent, DesignFile
from marketplace.services import audit_record

logger = logging.getLogger(__name__)

REGISTRATION_FINAL = "design_file.registration_final"


def design_registration_unconfirm(event: ChainEvent) -> None:
    """A reorg took the registration away: what `design_registration_confirm` recorded about it
    was never true of the final chain."""
    AuditEvent.objects.filter(verb=REGISTRATION_FINAL, data__chain_event=event.pk).delete()


@event_handler("DesignRegistry", "DesignRegistered", revert=design_registration_unconfirm)
def design_registration_confirm(event: ChainEvent) -> None:
    """Records, on every design file with the registered hash, that its proof of existence is
    final on chain, and whether our own registration made it. Anyone with the registrar role
    can call the contract directly, so the hash may have been registered by someone else first;
    our registration then fails, and this record says who was first."""
    sha256 = event.args["designHash"].removeprefix("0x")
    files = DesignFile.objects.filter(sha256=sha256).select_related("registration")
    if not files:
        logger.info("design hash %s registered outside PrintFair (tx %s)", sha256, event.tx_hash)
    for design_file in files:
        ours = design_file.registration is not None and (
            design_file.registration.tx_hash == event.tx_hash
        )
        if not ours:
            logger.warning(
                "design file %s: its hash was registered by tx %s, not by its own registration",
                design_file.pk,
                event.tx_hash,
            )
        audit_record(
            actor=None,
            verb=REGISTRATION_FINAL,
            target=design_file,
            chain_event=event.pk,
            block_number=event.block_number,
            tx_hash=event.tx_hash,
            owner_ref=event.args["ownerRef"],
            ours=ours,
        )
