from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from marketplace.models import (
    AuditEvent,
    CustomerWallet,
    DesignFile,
    Job,
    Membership,
    Order,
    Organization,
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
    search_fields = ["name", "memberships__user__email"]
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def member_count(self, obj: Organization) -> int:
        return obj.memberships.count()


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


@admin.register(DesignFile)
class DesignFileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "original_name",
        "job",
        "kind",
        "size_bytes",
        "triangle_count",
        "volume_cm3",
        "kek_version",
        "created_at",
    ]
    list_filter = ["kind", "kek_version"]
    search_fields = ["original_name", "sha256", "job__title"]
    # Keys and blobs are never edited by hand: rotation and uploads go through services.
    readonly_fields = [f.name for f in DesignFile._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "verb", "actor", "organization", "target_type", "target_id"]
    list_filter = ["verb", "target_type"]
    search_fields = ["verb", "target_id", "actor__email"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

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


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Orders come from final AuctionFinalized events; the admin shows them."""

    list_display = ["job", "shop", "price", "lead_time_days", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["job__title", "shop__name", "shop_address"]
    fields = ("job", "shop", "shop_address", "price", "lead_time_days", "status", "award_event")
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False
