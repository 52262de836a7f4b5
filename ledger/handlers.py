"""Dispatch of indexed chain events to the apps (DESIGN.md section 4, "Indexer").

An app registers what a contract event means to it, in its own `handlers.py` imported from its
`AppConfig.ready()`:

    def design_registration_unconfirm(event: ChainEvent) -> None: ...

    @event_handler("DesignRegistry", "DesignRegistered", revert=design_registration_unconfirm)
    def design_registration_confirm(event: ChainEvent) -> None: ...

`apply` runs once per event, in the transaction that marks the event applied, so an effect and
its mark commit together or not at all. `revert` runs when a reorg removes an applied event and
must undo what `apply` did; without one, the event's effect is left in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger.models import ChainEvent

EventFunction = Callable[[ChainEvent], None]

# Events applied per pass; the next pass continues.
DISPATCH_BATCH = 500


@dataclass(frozen=True)
class Handler:
    apply: EventFunction
    revert: EventFunction | None


_handlers: dict[tuple[str, str], Handler] = {}


def event_handler(
    contract: str, event: str, *, revert: EventFunction | None = None
) -> Callable[[EventFunction], EventFunction]:
    """Registers the decorated function as what `contract`'s `event` does to the app's data."""

    def register(apply: EventFunction) -> EventFunction:
        key = (contract, event)
        handler = Handler(apply=apply, revert=revert)
        registered = _handlers.setdefault(key, handler)
        # One meaning per event keeps the order of effects plain; a second would be a mistake.
        if registered != handler:
            raise ImproperlyConfigured(
                f"{contract}.{event} already has a handler: {registered.apply.__qualname__}"
            )
        return apply

    return register


def chain_events_dispatch(*, chain_id: int) -> int:
    """Applies the chain's events that have a handler and are not applied yet, in chain order,
    up to DISPATCH_BATCH of them; returns how many it applied. Events nobody handles stay
    unapplied, so that a handler added later still sees them."""
    if not _handlers:
        return 0
    handled = reduce(or_, (Q(contract=c, name=n) for c, n in _handlers))
    pending = ChainEvent.objects.filter(handled, chain_id=chain_id, applied=False, removed=False)
    applied = 0
    for event in pending.order_by("block_number", "log_index")[:DISPATCH_BATCH]:
        if not _apply(event, _handlers[(event.contract, event.name)]):
            # Another dispatcher is applying these: leave the rest to it, so order holds.
            break
        applied += 1
    return applied


def _apply(event: ChainEvent, handler: Handler) -> bool:
    """Applies `event` unless it has been applied or removed since it was selected."""
    with transaction.atomic():
        now = timezone.now()
        # The conditional update is the claim: of two dispatchers, one applies the event.
        claimed = ChainEvent.objects.filter(pk=event.pk, applied=False, removed=False).update(
            applied=True, applied_at=now
        )
        if not claimed:
            return False
        event.applied, event.applied_at = True, now
        handler.apply(event)
    return True


def chain_event_revert(*, event: ChainEvent) -> None:
    """Undoes an applied event's effect, in the caller's transaction (the reorg's rollback)."""
    handler = _handlers.get((event.contract, event.name))
    if handler is not None and handler.revert is not None:
        handler.revert(event)
