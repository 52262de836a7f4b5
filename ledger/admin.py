from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from web3.exceptions import Web3Exception

from ledger.chain import NodeUnreachable, request_web3_client
from ledger.contracts import ContractNotDeployed
from ledger.models import (
    AnchorBatch,
    ChainEvent,
    ChainTx,
    Deployment,
    IndexerCursor,
    RecordLeaf,
    ScannedBlock,
    Wallet,
)
from ledger.roles import contract_roles
from ledger.services.outbox import chaintx_redrive


@admin.register(ChainTx)
class ChainTxAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "idempotency_key",
        "contract",
        "function",
        "status",
        "nonce",
        "block_number",
        "attempts",
        "short_error",
        "created_at",
    ]
    list_filter = ["status", "contract", "function", "chain_id"]
    search_fields = ["idempotency_key", "tx_hash", "error"]
    readonly_fields = [f.name for f in ChainTx._meta.fields]
    actions = ["redrive"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from business changes, through the outbox

    @admin.display(description="Error")
    def short_error(self, obj: ChainTx) -> str:
        return obj.error[:80]

    @admin.action(description="Re-drive: queue failed ones again, re-send broadcast ones")
    def redrive(self, request: HttpRequest, queryset: QuerySet[ChainTx]) -> None:
        for chain_tx in queryset:
            chaintx_redrive(chain_tx=chain_tx)
        self.message_user(request, f"Re-drove {queryset.count()} transaction(s).", messages.SUCCESS)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "chain_id", "address", "block_number", "deployed_at"]
    list_filter = ["chain_id", "name"]
    search_fields = ["name", "address", "tx_hash"]
    readonly_fields = [*(f.name for f in Deployment._meta.fields), "roles_on_chain"]

    @admin.display(description="Roles on chain")
    def roles_on_chain(self, obj: Deployment) -> str:
        """Who holds each role, from the contract's role events the indexer stored once final
        (ledger/roles.py)."""
        if obj.pk is None:
            return "-"
        try:
            roles = contract_roles(request_web3_client(), obj)
        except ContractNotDeployed as exc:
            return str(exc)
        except (NodeUnreachable, Web3Exception, ValueError) as exc:
            return f"The chain node did not answer: {exc}"
        rows = [(name, ", ".join(accounts)) for name, accounts in sorted(roles.holders.items())]
        if roles.admin_delay is not None:
            rows.append(("admin move delay", f"{roles.admin_delay} s (two steps)"))
        if roles.pending_admin is not None:
            new_admin, when = roles.pending_admin
            rows.append(("admin move pending", f"to {new_admin}, acceptable from {when}"))
        rows.extend(roles.facts.items())
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td class='mono'>{}</td></tr>", rows),
        )


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["address", "chain_id", "next_nonce", "locked_at"]
    list_filter = ["chain_id"]
    search_fields = ["address"]
    readonly_fields = [f.name for f in Wallet._meta.fields]


class RecordLeafInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RecordLeaf
    extra = 0
    can_delete = False
    fields = readonly_fields = ("kind", "record_id", "record_hash", "leaf_hash")
    show_change_link = True


@admin.register(AnchorBatch)
class AnchorBatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "root", "leaf_count", "anchoring_status", "created_at"]
    search_fields = ["root"]
    readonly_fields = [f.name for f in AnchorBatch._meta.fields]
    list_select_related = ["chain_tx"]
    inlines = [RecordLeafInline]

    @admin.display(description="Anchoring")
    def anchoring_status(self, obj: AnchorBatch) -> str:
        return obj.chain_tx.get_status_display() if obj.chain_tx else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RecordLeaf)
class RecordLeafAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "kind", "record_id", "batch", "created_at"]
    list_filter = ["kind", ("batch", admin.EmptyFieldListFilter)]
    search_fields = ["record_id", "record_hash", "leaf_hash"]
    readonly_fields = [f.name for f in RecordLeaf._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class IndexerRowAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The indexer's rows are what it read from the chain: shown, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(IndexerCursor)
class IndexerCursorAdmin(IndexerRowAdmin):
    list_display = ["chain_id", "block_number", "updated_at"]


@admin.register(ScannedBlock)
class ScannedBlockAdmin(IndexerRowAdmin):
    list_display = ["number", "hash", "parent_hash", "chain_id", "scanned_at"]
    list_filter = ["chain_id"]
    search_fields = ["=number", "hash", "parent_hash"]


@admin.register(ChainEvent)
class ChainEventAdmin(IndexerRowAdmin):
    list_display = [
        "id",
        "contract",
        "name",
        "block_number",
        "log_index",
        "tx_hash",
        "applied",
        "removed",
        "created_at",
    ]
    list_filter = ["contract", "name", "applied", "removed", "chain_id"]
    search_fields = ["tx_hash", "block_hash", "address", "=block_number"]
