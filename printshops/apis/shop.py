"""The shop API under /api/v1/ (DESIGN.md section 6)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace import selectors
from marketplace.models import DesignFile, Job, Order, User
from marketplace.services import JOB_SPEC_FIELDS, escrow
from printfair.keys import HpkeKem
from printshops import selectors as shop_selectors
from printshops import services
from printshops.apis.permissions import HasScope, IsShop, IsVerifiedShop
from printshops.filters import OpenJobFilter
from printshops.models import ApiKey, Bid, PrintShopProfile


class DesignFileOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """What a shop learns of a design before award: hashes and geometry, never contents."""

    size_mm = serializers.SerializerMethodField()

    class Meta:
        model = DesignFile
        fields = [
            "id",
            "original_name",
            "kind",
            "size_bytes",
            "sha256",
            "triangle_count",
            "size_mm",
            "volume_cm3",
            "watertight",
            "consistently_wound",
        ]
        extra_kwargs = {
            "triangle_count": {"help_text": "Null for files that are not meshes (STEP)"},
            "volume_cm3": {
                "help_text": "Volume the mesh encloses; null if it does not enclose one "
                "(watertight or consistently_wound is false: the mesh is not closed, so no "
                "volume is meaningful) or the file is not a mesh"
            },
            "watertight": {
                "help_text": "Every edge is shared by exactly two facets; null if not checked "
                "(not a mesh, a mesh too large to check, or uploaded before the check)"
            },
            "consistently_wound": {
                "help_text": "Every edge shared by two facets is traversed in opposite "
                "directions by them, so all facets face the same side; null if not checked"
            },
        }

    def get_size_mm(self, obj: DesignFile) -> list[float] | None:
        size = obj.size_mm
        return list(size) if size is not None else None


class JobOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    envelope_mm = serializers.SerializerMethodField(
        help_text="The largest part's bounding box, longest edge first (mm)"
    )

    class Meta:
        model = Job
        # The customer's free-text description is only in the detail view.
        fields = [
            "id",
            *(name for name in JOB_SPEC_FIELDS if name != "description"),
            "status",
            "published_at",
            "envelope_mm",
        ]

    def get_envelope_mm(self, obj: Job) -> list[float] | None:
        envelope = obj.envelope_mm
        return list(envelope) if envelope is not None else None


class JobDetailOutput(JobOutput):
    files = DesignFileOutput(many=True, read_only=True)

    class Meta(JobOutput.Meta):
        fields = [*JobOutput.Meta.fields, "description", "files"]


class JobListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Open jobs, soonest bidding deadline first."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.JOBS_READ
    serializer_class = JobOutput
    filterset_class = OpenJobFilter

    def get_queryset(self) -> QuerySet[Job]:
        return selectors.job_list_open().order_by("commit_deadline", "id")

    @extend_schema(operation_id="jobs_list", summary="List open jobs")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class JobDetailApi(generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One open job with its spec, geometry and file hashes. Closed or unknown jobs are 404."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.JOBS_READ
    serializer_class = JobDetailOutput
    lookup_url_kwarg = "job_id"

    def get_queryset(self) -> QuerySet[Job]:
        return selectors.job_list_open()

    @extend_schema(operation_id="jobs_retrieve", summary="Get an open job")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class SettlementTokenOutput(serializers.Serializer):  # type: ignore[type-arg]
    address = serializers.CharField(allow_null=True)
    decimals = serializers.IntegerField()


class ChainInfoApi(APIView):
    """The chain PrintFair settles on: its id, the deployed contracts (the EIP-712 domain of
    sealed bids is the AuctionHouse's) and the settlement token. Public, as the chain is: anyone
    may check a design or a record against these contracts without an account."""

    # Public: no key is read, so none can be refused.
    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        chain_id = serializers.IntegerField()
        rpc_url = serializers.CharField(help_text="A node to check the chain with; any will do")
        contracts = serializers.DictField(child=serializers.CharField())
        settlement_token = SettlementTokenOutput()

    @extend_schema(operation_id="chain_info", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(shop_selectors.chain_info()).data)


class ShopKeyChallengeApi(APIView):
    """A one-time challenge to sign when registering keys (valid for ten minutes)."""

    permission_classes = [permissions.IsAuthenticated, IsShop, HasScope]
    required_scope = ApiKey.Scope.KEYS_WRITE

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        shop_id = serializers.IntegerField()
        challenge = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="shop_keys_challenge", request=None, responses={201: OutputSerializer}
    )
    def post(self, request: Request) -> Response:
        challenge = services.shop_key_challenge_create(actor=cast(User, request.user))
        data = {
            "shop_id": challenge.organization_id,
            "challenge": challenge.challenge,
            "expires_at": challenge.expires_at,
        }
        return Response(self.OutputSerializer(data).data, status=201)


class ShopKeysApi(APIView):
    """The shop's Ethereum address (bids are signed with it) and HPKE public key (designs are
    released to it). Registering signs `printfair.keys.registration_message` with the address's
    key."""

    permission_classes = [permissions.IsAuthenticated, IsShop, HasScope]
    required_scope = ApiKey.Scope.KEYS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        challenge = serializers.CharField(max_length=64)
        address = serializers.CharField(max_length=42)
        signature = serializers.RegexField(r"^0x[0-9a-fA-F]{130}$", help_text="65 bytes, 0x-hex")
        hpke_kem = serializers.ChoiceField(choices=[k.value for k in HpkeKem])
        hpke_public_key = serializers.CharField(help_text="base64")

        def validate_hpke_public_key(self, value: str) -> bytes:
            try:
                return base64.b64decode(value, validate=True)
            except (ValueError, binascii.Error):
                raise serializers.ValidationError("Not base64.") from None

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = serializers.CharField(source="eth_address")
        hpke_kem = serializers.CharField()
        hpke_public_key = serializers.SerializerMethodField()
        registered_at = serializers.DateTimeField(
            source="keys_registered_at", allow_null=True, help_text="Null until keys are registered"
        )
        verified = serializers.BooleanField(source="is_verified")

        def get_hpke_public_key(self, profile: PrintShopProfile) -> str:
            return base64.b64encode(bytes(profile.hpke_public_key or b"")).decode()

    @extend_schema(operation_id="shop_keys_retrieve", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        profile = cast(ApiKey, request.auth).organization.shop_profile
        return Response(self.OutputSerializer(profile).data)

    @extend_schema(
        operation_id="shop_keys_register", request=InputSerializer, responses=OutputSerializer
    )
    def put(self, request: Request) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        profile = services.shop_keys_register(
            actor=cast(User, request.user),
            challenge=data["challenge"],
            address=data["address"],
            signature=bytes.fromhex(data["signature"][2:]),
            hpke_kem=data["hpke_kem"],
            hpke_public_key=data["hpke_public_key"],
        )
        return Response(self.OutputSerializer(profile).data)


class ChainTxOutput(serializers.Serializer):  # type: ignore[type-arg]
    """A chain write on its way: its state, and once mined its transaction and block."""

    status = serializers.CharField()
    tx_hash = serializers.CharField(allow_null=True)
    block = serializers.IntegerField(source="block_number", allow_null=True)
    error = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["tx_hash"] = data["tx_hash"] or None
        return dict(data)


class BidOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A shop's own bid. The price shows only once the shop has revealed it; `relay` and
    `reveal_relay` follow its two chain writes, and `revealed_on_chain` turns true once the
    AuctionHouse's BidRevealed event for it is final (whoever sent the reveal)."""

    job = serializers.IntegerField(source="job_id")
    title = serializers.CharField(source="job.title")
    commit_deadline = serializers.DateTimeField(source="job.commit_deadline")
    reveal_deadline = serializers.DateTimeField(source="job.reveal_deadline")
    relay = ChainTxOutput(
        source="commit_tx", allow_null=True, help_text="The relayed commitment's chain state"
    )
    reveal_relay = ChainTxOutput(
        source="reveal_tx", allow_null=True, help_text="The relayed reveal's chain state"
    )
    revealed_on_chain = serializers.SerializerMethodField()

    class Meta:
        model = Bid
        fields = [
            "job",
            "title",
            "commit_deadline",
            "reveal_deadline",
            "version",
            "commitment",
            "status",
            "price",
            "lead_time_days",
            "relay",
            "reveal_relay",
            "revealed_on_chain",
            "updated_at",
        ]

    def get_revealed_on_chain(self, bid: Bid) -> bool:
        return bid.reveal_event_id is not None


# What BidOutput reads besides the bid.
BID_RELATED = ("job", "commit_tx", "reveal_tx")


class JobBidsApi(APIView):
    """Submit a sealed bid on an open job (a higher version replaces yours until the bidding
    deadline), or read yours. The commitment and its EIP-712 signature are made with the shop's
    registered key (printfair.eip712); the price stays on the shop's side until revealed."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        commitment = serializers.RegexField(r"^0x[0-9a-fA-F]{64}$")
        version = serializers.IntegerField(min_value=1, max_value=2**64 - 1)
        signature = serializers.RegexField(r"^0x[0-9a-fA-F]{130}$")

    @extend_schema(operation_id="bids_list_for_job", responses=BidOutput(many=True))
    def get(self, request: Request, job_id: int) -> Response:
        bids = Bid.objects.filter(
            job_id=job_id, organization=cast(ApiKey, request.auth).organization
        )
        return Response(BidOutput(bids.select_related(*BID_RELATED), many=True).data)

    @extend_schema(operation_id="bids_commit", request=InputSerializer, responses={201: BidOutput})
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        bid = services.bid_commit(
            actor=cast(User, request.user),
            job_id=job_id,
            commitment=bytes.fromhex(data["commitment"][2:]),
            version=data["version"],
            signature=bytes.fromhex(data["signature"][2:]),
        )
        return Response(BidOutput(bid).data, status=201)


class JobBidRevealApi(APIView):
    """Reveal your sealed bid between the bidding and the reveal deadline."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        price = serializers.IntegerField(min_value=1, help_text="Settlement-token base units")
        lead_time_days = serializers.IntegerField(min_value=0, max_value=2**32 - 1)
        salt = serializers.RegexField(r"^0x[0-9a-fA-F]{64}$")

    @extend_schema(operation_id="bids_reveal", request=InputSerializer, responses=BidOutput)
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        bid = services.bid_reveal(
            actor=cast(User, request.user),
            job_id=job_id,
            price=data["price"],
            lead_time_days=data["lead_time_days"],
            salt=bytes.fromhex(data["salt"][2:]),
        )
        return Response(BidOutput(bid).data)


class BidListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Your shop's bids, newest first."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE
    serializer_class = BidOutput

    def get_queryset(self) -> QuerySet[Bid]:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return Bid.objects.none()
        key = cast(ApiKey, self.request.auth)
        return Bid.objects.filter(organization=key.organization).select_related(*BID_RELATED)


# --- orders and payouts ---------------------------------------------------------------------


class OrderOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A job the shop won. Money amounts are settlement-token base units; states come from final
    chain events."""

    job = serializers.IntegerField(source="job_id")
    title = serializers.CharField(source="job.title")
    delivery_deadline = serializers.DateTimeField()

    class Meta:
        model = Order
        fields = [
            "job",
            "title",
            "status",
            "price",
            "lead_time_days",
            "delivery_deadline",
            "delivered_at",
            "claim_deadline",
            "shop_amount",
            "fee",
        ]


class OrderListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """The jobs your shop won, newest first."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE
    serializer_class = OrderOutput

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return Order.objects.none()
        return selectors.order_list_for_shop(user=cast(User, self.request.user))


class OrderDeliveredApi(APIView):
    """Record that a funded order was delivered: the operator writes it on chain, which opens
    the customer's claim window (accept or dispute; accepted by itself when it closes)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    @extend_schema(operation_id="orders_delivered", request=None, responses={202: ChainTxOutput})
    def post(self, request: Request, job_id: int) -> Response:
        chain_tx = escrow.order_mark_delivered(actor=cast(User, request.user), job_id=job_id)
        return Response(ChainTxOutput(chain_tx).data, status=202)


class PayoutOutput(serializers.Serializer):  # type: ignore[type-arg]
    amount = serializers.DecimalField(max_digits=40, decimal_places=0)
    tx_hash = serializers.CharField(source="event.tx_hash")
    block = serializers.IntegerField(source="event.block_number")
    created_at = serializers.DateTimeField()


class PayoutsApi(APIView):
    """What your shop may withdraw from the AuctionHouse, the nonce to sign a withdrawal for,
    and the withdrawals made (from final Withdrawn events)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = serializers.CharField()
        pending = serializers.CharField(help_text="Base units, at the latest block")
        nonce = serializers.IntegerField(help_text="Sign your next withdrawal with this nonce")
        payouts = PayoutOutput(many=True)

    @extend_schema(operation_id="payouts", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        key = cast(ApiKey, request.auth)
        return Response(
            self.OutputSerializer(escrow.payout_state(organization=key.organization)).data
        )


class PayoutWithdrawApi(APIView):
    """Withdraw your whole balance to your shop's address. Sign the EIP-712 `Withdrawal(account,
    nonce, deadline)` (printfair.eip712.sign_withdrawal) with the shop's registered key; the
    operator relays it, so the shop needs no gas."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        deadline = serializers.IntegerField(min_value=1, help_text="Unix time, within a day")
        signature = serializers.RegexField(r"^0x[0-9a-fA-F]{130}$")

    @extend_schema(
        operation_id="payouts_withdraw", request=InputSerializer, responses={202: ChainTxOutput}
    )
    def post(self, request: Request) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        chain_tx = escrow.payout_withdraw(
            actor=cast(User, request.user),
            deadline=given.validated_data["deadline"],
            signature=bytes.fromhex(given.validated_data["signature"][2:]),
        )
        return Response(ChainTxOutput(chain_tx).data, status=202)
