"""Machines' reads, scoped to the shop that asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from machines.models import Machine, MachineEvent, MachineKey
from marketplace.models import Organization
from printfair.machine_events import JOB_ENDED, JOB_STARTED, PROGRESS


def machine_list_for_shop(*, organization: Organization) -> QuerySet[Machine]:
    """The shop's machines with their keys and the chain writes of both (machines.chain)."""
    keys = MachineKey.objects.select_related("approve_tx", "revoke_tx")
    return (
        Machine.objects.filter(operator=organization)
        .select_related("owner", "register_tx")
        .prefetch_related(Prefetch("keys", queryset=keys))
    )


def machine_get_for_shop(*, organization: Organization, machine_id: int) -> Machine:
    """The shop's machine, or 404 (another shop's machine is as unknown as none)."""
    machine = machine_list_for_shop(organization=organization).filter(pk=machine_id).first()
    if machine is None:
        raise Http404("No such machine.")
    return machine


# --- the machine's page: what it is doing, and its recent samples --------------------------------

#: The most samples the chart is sent at once; more are thinned evenly. Also below SQLite's
#: limit of bound parameters, which the `sequence__in` of the thinning uses.
MAX_SAMPLES = 2000


@dataclass(frozen=True)
class MachineStatus:
    """What the machine's latest signed job events say it is doing. The agent reports a job's
    end only after its start, so when idle `started` is the start of the job that `ended`."""

    #: A job started after the latest end (or with none before it).
    printing: bool
    #: The latest job start: the job under way while printing, else the last one's.
    started: MachineEvent | None
    #: The latest job end: its outcome, duration and material.
    ended: MachineEvent | None
    #: The newest progress sample of the job under way (None when idle).
    sample: MachineEvent | None


def machine_status(*, machine: Machine) -> MachineStatus:
    events = machine.events.order_by("-sequence")
    started = events.filter(kind=JOB_STARTED).first()
    ended = events.filter(kind=JOB_ENDED).first()
    printing = started is not None and (ended is None or ended.sequence < started.sequence)
    sample = None
    if started is not None and printing:
        sample = events.filter(kind=PROGRESS, sequence__gt=started.sequence).first()
    return MachineStatus(printing=printing, started=started, ended=ended, sample=sample)


@dataclass(frozen=True)
class Sample:
    """One progress sample as the chart draws it."""

    sequence: int
    at_ms: int
    completion: float | None
    layer: int | None
    temperatures: dict[str, float]


def machine_samples_recent(
    *, machine: Machine, hours: int, after: int = 0, now: datetime | None = None
) -> tuple[list[Sample], bool]:
    """The machine's progress samples of the last `hours` numbered after `after`, in sequence
    order, and whether they were thinned: past MAX_SAMPLES they are picked evenly, the first and
    the last always, so that a chart polling on with `after` set to the last misses none."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    rows = machine.events.filter(kind=PROGRESS, occurred_at__gte=since, sequence__gt=after)
    sequences = list(rows.order_by("sequence").values_list("sequence", flat=True))
    thinned = len(sequences) > MAX_SAMPLES
    if thinned:
        last = len(sequences) - 1
        picked = {sequences[i * last // (MAX_SAMPLES - 1)] for i in range(MAX_SAMPLES)}
        rows = rows.filter(sequence__in=picked)
    samples = [
        Sample(
            sequence=sequence,
            at_ms=at_ms,
            completion=data.get("completion"),
            layer=data.get("layer"),
            temperatures=data.get("temperatures") or {},
        )
        for sequence, at_ms, data in rows.order_by("sequence").values_list(
            "sequence", "occurred_at_ms", "data"
        )
    ]
    return samples, thinned
