"""Reads, always scoped to the requester (STYLE.md rules 1 and 7)."""

from __future__ import annotations

import uuid

from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from marketplace.models import DesignFile, Job, User


def job_list_for_user(
    *, user: User, status: str = "", process: str = "", query: str = ""
) -> QuerySet[Job]:
    organization = user.organization
    if organization is None or not organization.is_customer:
        return Job.objects.none()
    jobs = (
        Job.objects.filter(organization=organization)
        .annotate(file_count=Count("files"))
        .order_by("-created_at", "-id")
    )
    if status:
        jobs = jobs.filter(status=status)
    if process:
        jobs = jobs.filter(process=process)
    if query:
        jobs = jobs.filter(title__icontains=query)
    return jobs


def job_get_for_user(*, user: User, job_id: int) -> Job:
    """The customer's own job, or 404 (never 403: another party's job does not exist for you)."""
    organization = user.organization
    job = (
        Job.objects.filter(pk=job_id, organization=organization)
        .select_related("organization")
        .first()
        if organization is not None and organization.is_customer
        else None
    )
    if job is None:
        raise Http404("No such job.")
    return job


def design_file_get_for_user(*, user: User, job_id: int, file_id: uuid.UUID) -> DesignFile:
    job = job_get_for_user(user=user, job_id=job_id)
    design_file = DesignFile.objects.filter(job=job, pk=file_id).select_related("job").first()
    if design_file is None:
        raise Http404("No such file.")
    return design_file


def design_file_list_for_job(*, job: Job) -> QuerySet[DesignFile]:
    """A job's files (the caller has checked access to the job) with their registrations."""
    return job.files.select_related("registration")


def job_list_open() -> QuerySet[Job]:
    """Jobs shops may bid on now: published, and their bidding deadline not yet passed."""
    return Job.objects.filter(
        status=Job.Status.OPEN, commit_deadline__gt=timezone.now()
    ).prefetch_related("files")
