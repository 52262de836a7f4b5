"""Browser views for jobs: the list, the form, the job's page, publishing and cancelling."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from marketplace import selectors, services
from marketplace.forms import JobFilterForm, JobForm
from marketplace.signals import section_context
from marketplace.stages import job_stage
from marketplace.views.common import job_action, request_user
from marketplace.views.designs import files_context
from marketplace.views.orders import order_context

JOBS_PER_PAGE = 25


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if user.organization is None or not user.organization.is_customer:
        return redirect("dashboard")
    filters = JobFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    jobs = selectors.job_list_for_user(
        user=user,
        status=params.get("status", ""),
        process=params.get("process", ""),
        query=params.get("query", ""),
    )
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "marketplace/job_list.html", {"filters": filters, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def job_create(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if user.organization is None or not user.organization.is_customer:
        messages.error(request, "Only customer organisations post jobs.")
        return redirect("dashboard")
    form = JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.job_create(actor=user, spec=form.spec())
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, "Draft saved. Now add its design files.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "marketplace/job_form.html", {"form": form, "job": None})


@login_required
@require_http_methods(["GET", "POST"])
def job_edit(request: HttpRequest, job_id: int) -> HttpResponse:
    user = request_user(request)
    job = selectors.job_get_for_user(user=user, job_id=job_id)
    if not job.is_editable:
        messages.error(request, "Only draft jobs can be edited.")
        return redirect("job_detail", job_id=job.pk)
    form = JobForm(request.POST or None, instance=job)
    if request.method == "POST" and form.is_valid():
        try:
            services.job_update(actor=user, job=job, spec=form.spec())
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, "Job saved.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "marketplace/job_form.html", {"form": form, "job": job})


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    context = files_context(job, max_upload_bytes=settings.PRINTFAIR_MAX_UPLOAD_BYTES)
    context.update(order_context(job))
    context.update(section_context(job=job, section="production"))
    context["stage"] = job_stage(
        job,
        context["order"],
        parts_started=context.get("parts_started", 0),
        parts_shipped=context.get("parts_shipped", 0),
    )
    return render(request, "marketplace/job_detail.html", context)


@login_required
@require_POST
def job_publish(request: HttpRequest, job_id: int) -> HttpResponse:
    return job_action(
        request, job_id, services.job_publish, "Published: verified print shops can now bid."
    )


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    return job_action(
        request,
        job_id,
        services.job_cancel,
        "Cancelling: the job takes no more bids, and it is cancelled once the chain has ended "
        "its auction (a draft is cancelled at once).",
    )
