"""A shop's machines in the browser: register one, approve the key its agent made with the
pairing code the agent shows, revoke a key, and see what the machine signed last: what it is
doing now (a panel the page polls) and a chart of its recent samples (fed by `machine_samples`,
which static/js/machine_chart.js polls)."""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from config.api import error_body
from config.errors import DomainError
from machines import services
from machines.forms import (
    CHART_HOUR_CHOICES,
    CHART_HOURS,
    MachineForm,
    PairingCodeForm,
    SamplesQueryForm,
)
from machines.models import MachineKey
from machines.selectors import (
    machine_get_for_shop,
    machine_list_for_shop,
    machine_samples_recent,
    machine_status,
)
from marketplace.models import Organization, User
from printfair.machine_events import pairing_code
from printshops.views.shop import shop_required

#: The machine's latest events on its page.
LATEST_EVENTS = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _shop(request: HttpRequest) -> Organization:
    return cast(Organization, _user(request).organization)


@shop_required
def machine_list(request: HttpRequest) -> HttpResponse:
    form = MachineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            machine = services.machine_create(actor=_user(request), **form.cleaned_data)
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, f"Registered {machine}. Pair its agent next.")
            return redirect("machine_detail", machine_id=machine.pk)
    machines = machine_list_for_shop(organization=_shop(request))
    return render(request, "machines/list.html", {"form": form, "machines": machines})


@shop_required
def machine_detail(request: HttpRequest, machine_id: int) -> HttpResponse:
    machine = machine_get_for_shop(organization=_shop(request), machine_id=machine_id)
    form = PairingCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key = services.machine_key_approve(
                actor=_user(request), machine=machine, code=form.cleaned_data["pairing_code"]
            )
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, f"Approved the key {key.address}: the agent may report.")
            return redirect("machine_detail", machine_id=machine.pk)
    keys = [
        (key, pairing_code(machine_id=machine.pk, address=key.address))
        for key in machine.keys.select_related("approve_tx", "revoke_tx").order_by("-id")
    ]
    events = machine.events.select_related("attested_record__order").order_by("-sequence")[
        :LATEST_EVENTS
    ]
    context = {
        "machine": machine,
        "form": form,
        "keys": keys,
        "events": events,
        "status": machine_status(machine=machine),
        "chart_hours": CHART_HOURS,
        "chart_hour_choices": CHART_HOUR_CHOICES,
    }
    return render(request, "machines/detail.html", context)


@shop_required
@require_POST
def machine_key_revoke(request: HttpRequest, machine_id: int, key_id: int) -> HttpResponse:
    machine = machine_get_for_shop(organization=_shop(request), machine_id=machine_id)
    key = machine.keys.filter(pk=key_id).exclude(status=MachineKey.Status.REVOKED).first()
    if key is not None:
        services.machine_key_revoke(actor=_user(request), machine=machine, address=key.address)
        messages.success(request, f"Revoked {key.address}: nothing it signs is taken any more.")
    return redirect("machine_detail", machine_id=machine.pk)


@shop_required
@require_GET
@never_cache
def machine_status_panel(request: HttpRequest, machine_id: int) -> HttpResponse:
    """The machine page's status and current job, which the page polls."""
    machine = machine_get_for_shop(organization=_shop(request), machine_id=machine_id)
    context = {"machine": machine, "status": machine_status(machine=machine)}
    return render(request, "machines/partials/status.html", context)


@shop_required
@require_GET
@never_cache
def machine_samples(request: HttpRequest, machine_id: int) -> HttpResponse:
    """The machine's progress samples of the last hours as its chart draws them: all of them
    at first, then (`?after=` the newest it has) only those delivered since."""
    machine = machine_get_for_shop(organization=_shop(request), machine_id=machine_id)
    query = SamplesQueryForm(request.GET)
    if not query.is_valid():
        fields = {
            name: [str(problem) for problem in problems] for name, problems in query.errors.items()
        }
        message = next(iter(fields.values()))[0]
        return JsonResponse(error_body(400, "validation_error", message, fields), status=400)
    hours, now = query.cleaned_data["hours"] or CHART_HOURS, timezone.now()
    samples, thinned = machine_samples_recent(
        machine=machine, hours=hours, after=query.cleaned_data["after"] or 0, now=now
    )
    # The server's time, so that the chart's window does not depend on the browser's clock.
    return JsonResponse(
        {
            "hours": hours,
            "now_ms": int(now.timestamp() * 1000),
            "thinned": thinned,
            "samples": [asdict(sample) for sample in samples],
        }
    )
