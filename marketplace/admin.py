from decimal import Decimal
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from config.errors import DomainError
from marketplace.models import (
    AuditEvent,
    CustomerWallet,
    DesignFile,
    Dispute,
    Job,
    Membership,
    Order,
    Organization,
    Payout,
    PendingSignUp,
    ShopOrderTally,
    User,
)
from marketplace.money import SETTLEMENT_DECIMALS, format_amount
from marketplace.services.escrow import dispute_resolve
from marketplace.services.jobs import OPERATOR_CANCELLABLE, job_cancel_by_operator
from marketplace.signals import section_context
from marketplace.views.common import stored_evidence_response


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    ordering = ["email"]
    list_display = ["email", "name", "organization_name", "is_staff", "is_active", "date_joined"]
    list_select_related = ["membership__organization"]
    list_filter = ["is_staff", "is_active", "membership__organization__kind"]
    search_fields = ["email", "name", "membership__organization__name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),
    )

    @admin.display(description="Organisation", ordering="membership__organization__name")
    def organization_name(self, obj: User) -> str:
        return obj.organization.name if obj.organization else "—"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "kind", "member_count", "created_at"]
    list_filter = ["kind"]
    # The owner reference names the organisation's design registrations on chain.
    search_fields = ["name", "memberships__user__email", "owner_ref"]
    readonly_fields = ["owner_ref"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        queryset: QuerySet[Organization] = super().get_queryset(request)
        return queryset.annotate(members=Count("memberships"))

    @admin.display(description="Members", ordering="members")
    def member_count(self, obj: Organization) -> int:
        return int(getattr(obj, "members"))  # noqa: B009 - the changelist's annotation


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization__kind"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]


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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "verb", "actor", "organization", "target_type", "target_id"]
    list_select_related = ["actor", "organization"]
    list_filter = ["verb", "target_type"]
    search_fields = ["verb", "target_id", "actor__email"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(PendingSignUp)
class PendingSignUpAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Sign-ups waiting for their link; kept 24 hours. The hashes never show."""

    list_display = ["email", "organization_name", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["email", "organization_name"]
    fields = ("email", "name", "organization_name", "kind", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(CustomerWallet)
class CustomerWalletAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["organization", "address", "custodial", "created_at"]
    search_fields = ["organization__name", "address"]
    # The wrapped key never shows: it is useless without the KEK, and nobody needs to see it.
    fields = ("organization", "address", "kek_version", "created_at")
    readonly_fields = fields

    @admin.display(boolean=True, description="Custodial")
    def custodial(self, obj: CustomerWallet) -> bool:
        return obj.is_custodial

    def has_add_permission(self, request: object) -> bool:
        return False


class DisputeInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Dispute
    extra = 0
    can_delete = False
    fields = (
        "opened_by",
        "statement",
        "evidence_files",
        "evidence_hash",
        "dispute_tx",
        "resolved_by",
        "resolution_shop_amount",
        "resolution_note",
        "resolve_tx",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ResolveForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("release", "Release: the whole price to the shop"),
            ("partial", "Partial release: part to the shop, the rest back to the customer"),
            ("refund", "Refund: everything back to the customer"),
        ],
        widget=forms.RadioSelect,
    )
    shop_amount = forms.DecimalField(
        label="Shop's part (USD)",
        required=False,
        min_value=Decimal(0),
        decimal_places=SETTLEMENT_DECIMALS,
        help_text="For a partial release; the platform fee comes out of it.",
    )
    note = forms.CharField(label="Reasons", widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Orders come from final AuctionFinalized events and move only with final escrow events; an
    arbiter resolves a disputed one from its page ("Resolve dispute")."""

    list_display = ["job", "shop", "price_usd", "lead_time_days", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["job__title", "shop__name", "shop_address"]
    fields = (
        "job",
        "shop",
        "shop_address",
        "price",
        "lead_time_days",
        "status",
        "award_event",
        "last_event",
        "delivered_at",
        "claim_deadline",
        "shop_amount",
        "fee",
        "customer_amount",
    )
    readonly_fields = fields
    inlines = [DisputeInline]
    change_form_template = "admin/marketplace/order/change_form.html"

    def has_add_permission(self, request: object) -> bool:
        return False

    @admin.display(description="Price (USD)", ordering="price")
    def price_usd(self, order: Order) -> str:
        return format_amount(order.price)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<id:order_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="marketplace_order_resolve",
            ),
            path(
                "<id:order_id>/dispute-evidence/<id:index>/",
                self.admin_site.admin_view(self.dispute_evidence_view),
                name="marketplace_order_dispute_evidence",
            ),
            *super().get_urls(),
        ]

    def dispute_evidence_view(
        self, request: HttpRequest, order_id: int, index: int
    ) -> FileResponse:
        """One of the files the customer attached to its dispute, for the arbiter."""
        dispute = get_object_or_404(Dispute.objects.select_related("order"), order_id=order_id)
        if not self.has_view_permission(request, dispute.order):
            raise PermissionDenied
        files = dispute.evidence_files
        if not 0 <= index < len(files):
            raise Http404("The dispute has no such file.")
        item = files[index]
        # The customer's files are not sniffed: the browser downloads them, never shows them.
        return stored_evidence_response(
            str(item["blob"]), str(item["name"]), "application/octet-stream"
        )

    def resolve_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        order = get_object_or_404(Order.objects.select_related("job", "shop"), pk=order_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decision = form.cleaned_data["decision"]
            price = int(order.price)
            if decision == "release":
                shop_amount = price
            elif decision == "refund":
                shop_amount = 0
            else:
                given = form.cleaned_data["shop_amount"]
                shop_amount = -1 if given is None else int(given * 10**SETTLEMENT_DECIMALS)
            try:
                dispute_resolve(
                    actor=cast(User, request.user),
                    order=order,
                    shop_amount=shop_amount,
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    f"Resolution sent to the chain: {format_amount(shop_amount)} USD to the shop. "
                    "The order shows it once final.",
                    messages.SUCCESS,
                )
                return redirect("admin:marketplace_order_change", order.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "dispute": Dispute.objects.filter(order=order).first(),
            # What the shop reported of each part, with its anchoring, and the quality gate:
            # the facts of a quality dispute (printshops/receivers.py).
            **section_context(job=order.job, section="production"),
            "form": form,
            "title": f"Resolve the dispute of {order}",
        }
        return TemplateResponse(request, "admin/marketplace/order/resolve.html", context)


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["order", "opened_by", "created_at", "resolved_by", "resolution_shop_amount"]
    search_fields = ["order__job__title", "statement"]
    readonly_fields = [field.name for field in Dispute._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Withdrawals from the AuctionHouse, from final Withdrawn events."""

    list_display = ["account", "organization", "amount", "created_at"]
    search_fields = ["account", "organization__name"]
    readonly_fields = ["account", "organization", "amount", "event", "created_at"]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(ShopOrderTally)
class ShopOrderTallyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Each shop's orders counted as they move (its performance figures); read only:
    `manage.py rebuild_order_tallies --check` compares them with the orders."""

    list_display = ["organization", *ShopOrderTally.COUNTS]
    list_select_related = ["organization"]
    search_fields = ["organization__name"]
    readonly_fields = ["organization", *ShopOrderTally.COUNTS]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
