"""Dispatch of indexed chain events to the apps (DESIGN.md section 4, "Indexer").

An app registers what a contract event means to it, in its own `handlers.py` imported from its
`AppConfig.ready()`, by the event's payload (ledger/events.py): the handler receives the stored
event and its arguments decoded into the payload, so no handler reads ChainEvent.args itself.

    def design_registration_unconfirm(event: ChainEvent, args: DesignRegistered) -> None: ...

    @event_handler(DesignRegistered, revert=design_registration_unconfirm)
    def design_registration_confirm(event: ChainEvent, args: DesignRegistered) -> None: ...

An event without a payload class is registered by name and its handler gets the event alone:
`@event_handler("RecordAnchor", "RootAnchored")`.

`apply` runs once per event, in the transaction that marks the event applied, so an effect and
its mark commit together or not at all. `revert` runs when a reorg removes an applied event and
must undo what `apply` did; without one, the event's effect is left in place. Arguments that do
not decode into the payload raise MalformedEventError (naming the event and the argument) there,
before the handler runs, and the event stays unapplied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, reduce
from operator import or_
from typing import Any, Generic, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ledger.events import EventPayload, payload_type
from ledger.models import ChainEvent

EventFunction = Callable[[ChainEvent], None]
P = TypeVar("P", bound=EventPayload)

# Events applied per pass; the next pass continues.
DISPATCH_BATCH = 500


@dataclass(frozen=True)
class Handler:
    apply: EventFunction
    revert: EventFunction | None


@dataclass(frozen=True)
class _Decoding(Generic[P]):
    """Calls `function` with the event and its decoded payload."""

    payload: type[P]
    function: Callable[[ChainEvent, P], None]

    def __call__(self, event: ChainEvent) -> None:
        self.function(event, self.payload.from_event(event))


_handlers: dict[tuple[str, str], Handler] = {}


@overload
def event_handler(
    payload: type[P], /, *, revert: Callable[[ChainEvent, P], None] | None = None
) -> Callable[[Callable[[ChainEvent, P], None]], Callable[[ChainEvent, P], None]]: ...


@overload
def event_handler(
    contract: str, event: str, /, *, revert: EventFunction | None = None
) -> Callable[[EventFunction], EventFunction]: ...


def event_handler(
    target: type[EventPayload] | str,
    event: str | None = None,
    /,
    *,
    revert: Callable[..., None] | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Registers the decorated function as what an event does to the app's data: the event of
    the payload class `target`, called with the event and its payload, or `target`'s (a
    contract name) `event`, which has no payload class, called with the event alone."""
    if isinstance(target, str):
        if event is None:
            raise TypeError("event_handler(contract, event) needs the event's name")
        key = (target, event)
        payload = payload_type(*key)
        if payload is not None:
            # Its handlers take the decoded payload: none reads the stored JSON on its own.
            raise ImproperlyConfigured(
                f"{target}.{event} has a payload: register with event_handler({payload.__name__})"
            )
    else:
        key = (getattr(target, "contract", ""), getattr(target, "event", ""))
        payload = target
        if payload_type(*key) is not target:
            raise ImproperlyConfigured(f"{target.__qualname__} is not a registered event payload")

    def register(apply: Callable[..., None]) -> Callable[..., None]:
        if payload is None:
            handler = Handler(apply=apply, revert=revert)
        else:
            handler = Handler(
                apply=_Decoding(payload, apply),
                revert=None if revert is None else _Decoding(payload, revert),
            )
        registered = _handlers.setdefault(key, handler)
        # One meaning per event keeps the order of effects plain; a second would be a mistake.
        if registered != handler:
            raise ImproperlyConfigured(
                f"{key[0]}.{key[1]} already has a handler: {_name(registered.apply)}"
            )
        return apply

    return register


def _name(function: EventFunction) -> str:
    inner = function.function if isinstance(function, _Decoding) else function
    return str(getattr(inner, "__qualname__", inner))


def chain_events_unapplied(**filters: Any) -> QuerySet[ChainEvent]:
    """The live events matching `filters` that a handler is still to apply."""
    if not _handlers:
        return ChainEvent.objects.none()
    handled = reduce(or_, (Q(contract=c, name=n) for c, n in _handlers))
    return ChainEvent.objects.filter(handled, applied=False, removed=False, **filters)


def chain_events_dispatch(*, chain_id: int) -> int:
    """Applies the chain's events that have a handler and are not applied yet, in chain order,
    up to DISPATCH_BATCH of them; returns how many it applied. Events nobody handles stay
    unapplied, so that a handler added later still sees them."""
    applied = 0
    for event in _next_unapplied(chain_id):
        if not _apply(event, _handlers[(event.contract, event.name)]):
            # Another dispatcher is applying these: leave the rest to it, so order holds.
            break
        applied += 1
    return applied


def _next_unapplied(chain_id: int) -> list[ChainEvent]:
    """The chain's next DISPATCH_BATCH unapplied events that have a handler, in chain order."""
    sql, params = _unapplied_sql(chain_id, tuple(_handlers))
    return list(ChainEvent.objects.raw(sql, params)) if sql else []


@cache
def _unapplied_sql(
    chain_id: int, kinds: tuple[tuple[str, str], ...]
) -> tuple[str, tuple[Any, ...]]:
    """`_next_unapplied`'s statement: the first unapplied events of each handled kind, read in
    order from the index of unapplied events (a subquery per kind, each as cheap whatever the
    table holds), merged. One filter for every kind at once was planned as a walk over all the
    chain's events in order, applied ones included; a query per kind cost a round trip each (14
    a pass). Built once per chain and set of handled `kinds`: building the subqueries took three
    times as long as running them."""
    parts: list[str] = []
    params: list[Any] = []
    for contract, name in kinds:
        kind = ChainEvent.objects.filter(
            chain_id=chain_id, contract=contract, name=name, applied=False, removed=False
        ).order_by("block_number", "log_index")[:DISPATCH_BATCH]
        sql, kind_params = kind.query.sql_with_params()
        # A derived table: both PostgreSQL and SQLite take ORDER BY and LIMIT in one. The SQL
        # is Django's for the queryset above; the values stay parameters.
        parts.append(f"SELECT * FROM ({sql}) AS kind{len(parts)}")  # noqa: S608
        params.extend(kind_params)
    if not parts:
        return "", ()
    merged = " UNION ALL ".join(parts)
    return f"{merged} ORDER BY block_number, log_index LIMIT {DISPATCH_BATCH}", tuple(params)


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
