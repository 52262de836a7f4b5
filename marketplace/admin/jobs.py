"""The admin of customers' jobs and their design files, with the operator's cancel."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from config.errors import DomainError
from marketplace.models import (
    DesignFile,
    Job,
    User,
)
from marketplace.services.jobs import OPERATOR_CANCELLABLE, job_cancel_by_operator


class DesignFileInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DesignFile
    extra = 0
    can_delete = False
    fields = (
        "original_name",
        "kind",
        "size_bytes",
        "sha256",
        "triangle_count",
        "volume_cm3",
        "watertight",
        "consistently_wound",
        "kek_version",
    )
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "title",
        "organization",
        "status",
        "process",
        "material",
        "quantity",
        "commit_deadline",
        "created_at",
    ]
    list_filter = ["status", "process", "material", "pricing_rule"]
    search_fields = ["title", "description", "organization__name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "updated_at",
        "published_at",
        "cancelled_at",
        "envelope_a_mm",
        "envelope_b_mm",
        "envelope_c_mm",
    ]
    raw_id_fields = ["organization", "created_by"]
    inlines = [DesignFileInline]
    change_form_template = "admin/marketplace/job/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<id:job_id>/cancel-on-chain/",
                self.admin_site.admin_view(self.cancel_view),
                name="marketplace_job_cancel_on_chain",
            ),
            *super().get_urls(),
        ]

    def cancel_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """The operator ends a job's auction on chain, with its reason, before it is funded."""
        job = get_object_or_404(Job, pk=job_id)
        if not self.has_change_permission(request, job):
            raise PermissionDenied
        form = OperatorCancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                job_cancel_by_operator(
                    actor=cast(User, request.user), job=job, reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    "Cancel sent to the chain: the job is cancelled once it is final.",
                    messages.SUCCESS,
                )
                return redirect("admin:marketplace_job_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "job": job,
            "cancellable": job.status in OPERATOR_CANCELLABLE,
            "form": form,
            "title": f"Cancel the auction of {job}",
        }
        return TemplateResponse(request, "admin/marketplace/job/cancel.html", context)


class OperatorCancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Its hash goes on chain with the cancel; the text stays in the audit trail.",
    )


@admin.register(DesignFile)
class DesignFileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "original_name",
        "job",
        "kind",
        "size_bytes",
        "triangle_count",
        "volume_cm3",
        "watertight",
        "consistently_wound",
        "kek_version",
        "created_at",
    ]
    list_filter = ["kind", "watertight", "consistently_wound", "kek_version"]
    search_fields = ["original_name", "sha256", "job__title"]
    # Keys and blobs are never edited by hand: rotation and uploads go through services.
    readonly_fields = [f.name for f in DesignFile._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
