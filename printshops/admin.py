import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from marketplace.views.common import stored_evidence_response
from printshops import services
from printshops.models import (
    ApiKey,
    Bid,
    Certificate,
    DesignRelease,
    EvidenceFile,
    KeyChallenge,
    Licence,
    PartRecord,
    PrintShopProfile,
    PrintTicket,
)


@admin.register(PrintShopProfile)
class PrintShopProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "organization",
        "verified",
        "eth_address",
        "country",
        "city",
        "build_volume",
        "updated_at",
    ]
    list_filter = [("verified_at", admin.EmptyFieldListFilter), "country", "name_public"]
    search_fields = ["organization__name", "city", "eth_address"]
    # Keys are registered by the shop with a signature (API), never typed in here.
    readonly_fields = [
        "verified_at",
        "verified_by",
        "eth_address",
        "hpke_kem",
        "keys_registered_at",
        "updated_at",
    ]
    exclude = ["hpke_public_key"]
    actions = ["verify", "unverify"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(boolean=True, description="Verified", ordering="verified_at")
    def verified(self, obj: PrintShopProfile) -> bool:
        return obj.is_verified

    @admin.display(description="Build volume (mm)")
    def build_volume(self, obj: PrintShopProfile) -> str:
        return f"{obj.build_x_mm} × {obj.build_y_mm} × {obj.build_z_mm}"

    @admin.action(description="Verify selected shops")
    def verify(self, request: HttpRequest, queryset: QuerySet[PrintShopProfile]) -> None:
        for profile in queryset:
            services.shop_verify(actor=request.user, profile=profile)  # type: ignore[arg-type]
        self.message_user(request, f"Verified {queryset.count()} shop(s).", messages.SUCCESS)

    @admin.action(description="Withdraw verification")
    def unverify(self, request: HttpRequest, queryset: QuerySet[PrintShopProfile]) -> None:
        for profile in queryset:
            services.shop_unverify(actor=request.user, profile=profile)  # type: ignore[arg-type]
        self.message_user(
            request, f"Withdrew verification of {queryset.count()} shop(s).", messages.WARNING
        )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "organization",
        "prefix",
        "status",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "organization"]
    search_fields = ["name", "prefix", "organization__name"]
    readonly_fields = [
        "prefix",
        "secret_hash",
        "last_used_at",
        "created_at",
        "created_by",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made by shops, where the token can be shown once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.api_key_revoke(actor=request.user, api_key=key)  # type: ignore[arg-type]
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(KeyChallenge)
class KeyChallengeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["organization", "created_at", "expires_at", "used_at"]
    search_fields = ["organization__name"]
    readonly_fields = [f.name for f in KeyChallenge._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Bid)
class BidAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Bids are the shops' signed statements: operators look, nobody edits."""

    list_display = ["job", "organization", "version", "status", "price", "updated_at"]
    list_filter = ["status"]
    search_fields = ["organization__name", "shop_address", "job__title"]
    list_select_related = ["job", "organization"]
    fields = (
        "job",
        "organization",
        "shop_address",
        "commitment",
        "version",
        "status",
        "price",
        "lead_time_days",
        "commit_tx",
        "reveal_tx",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class DesignReleaseInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DesignRelease
    fields = readonly_fields = ("design_file", "hpke_kem", "created_at", "revoked_at")
    extra = 0
    can_delete = False


class PrintTicketInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PrintTicket
    fields = readonly_fields = ("number", "machine", "part_serial", "created_by", "created_at")
    extra = 0
    can_delete = False


@admin.register(Licence)
class LicenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Licences follow the escrow's final events; operators look, nobody edits."""

    list_display = ["order", "organization", "prints_taken", "prints_allowed", "closed_at"]
    list_filter = [("closed_at", admin.EmptyFieldListFilter), "close_reason"]
    search_fields = ["organization__name", "order__job__title"]
    list_select_related = ["order__job", "order__shop", "organization"]
    fields = (
        "order",
        "organization",
        "prints_allowed",
        "prints_taken",
        "issue_tx",
        "closed_at",
        "close_reason",
        "close_tx",
        "created_at",
    )
    readonly_fields = fields
    inlines = [DesignReleaseInline, PrintTicketInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DesignRelease)
class DesignReleaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["design_file", "licence", "hpke_kem", "created_at", "revoked_at"]
    list_filter = ["hpke_kem", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["design_file", "licence__organization", "licence__order"]
    # The wrapped key never shows: only the shop's private key opens it.
    fields = ("licence", "design_file", "hpke_kem", "created_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PrintTicket)
class PrintTicketAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["licence", "number", "machine", "part_serial", "created_at"]
    search_fields = ["part_serial", "machine", "licence__organization__name"]
    list_select_related = ["licence__organization", "licence__order"]
    readonly_fields = [f.name for f in PrintTicket._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Anchored records and what machines signed: operators look, nobody edits (an edit would
    fail verification)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PartRecord)
class PartRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "part_serial",
        "seq",
        "kind",
        "characteristic",
        "passed",
        "order",
        "occurred_at",
    ]
    list_filter = ["kind", "passed"]
    search_fields = ["part_serial", "characteristic", "order__job__title", "id"]
    list_select_related = ["order__job", "order__shop"]
    date_hierarchy = "occurred_at"


@admin.register(EvidenceFile)
class EvidenceFileAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "content_type",
        "size_bytes",
        "sha256",
        "order",
        "created_at",
        "download",
    ]
    list_filter = ["content_type"]
    search_fields = ["name", "sha256", "order__job__title"]
    list_select_related = ["order__job", "order__shop"]

    @admin.display(description="File")
    def download(self, evidence: EvidenceFile) -> str:
        url = reverse("admin:printshops_evidencefile_download", args=[evidence.pk])
        return format_html('<a href="{}">open</a>', url)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<uuid:evidence_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="printshops_evidencefile_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, evidence_id: uuid.UUID) -> FileResponse:
        evidence = get_object_or_404(EvidenceFile, pk=evidence_id)
        if not self.has_view_permission(request, evidence):
            raise PermissionDenied
        return stored_evidence_response(evidence.blob, evidence.name, evidence.content_type)


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["part_serial", "order", "issued_at"]
    search_fields = ["part_serial", "order__job__title", "id"]
    list_select_related = ["order__job", "order__shop"]
