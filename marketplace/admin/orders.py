"""The admin of orders, disputes (the arbiter's resolution), payouts and shops' order tallies."""

from decimal import Decimal
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from config.errors import DomainError
from marketplace.models import (
    Dispute,
    Order,
    Payout,
    ShopOrderTally,
    User,
)
from marketplace.money import SETTLEMENT_DECIMALS, format_amount
from marketplace.services.escrow import dispute_resolve
from marketplace.signals import section_context
from marketplace.views.common import stored_evidence_response


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
