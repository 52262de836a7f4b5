"""The admin of accounts: users, organisations and their members, audit events, sign-ups waiting
for their link, custodial wallets, and the e-mail notices sent."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from marketplace.models import (
    AuditEvent,
    CustomerWallet,
    Membership,
    Notice,
    Organization,
    PendingSignUp,
    User,
)


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
        ("Person", {"fields": ("name", "email_notifications")}),
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


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The e-mail about jobs' moments (marketplace/notifications.py), one per person and moment:
    what was sent to whom, or why not yet, read-only."""

    list_display = ["created_at", "key", "user", "subject", "mailed_at", "attempts", "last_error"]
    list_filter = [("mailed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["key", "user__email", "subject"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "user", "key", "subject", "body", "created_at", "mailed_at", "attempts",
        "next_attempt_at", "last_error",
    ]  # fmt: skip

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
