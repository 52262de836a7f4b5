"""The shop API's orders: the jobs a shop won, and their delivery."""

from __future__ import annotations

from typing import cast

from django.db.models import Count, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Text
from marketplace import selectors
from marketplace.models import Order, User
from marketplace.stages import job_stage
from printshops.apis.chain import ChainTxOutput
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey, PartRecord
from printshops.services import orders as shop_orders


class OrderOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A job the shop won. Money amounts are settlement-token base units; states come from final
    chain events."""

    job = serializers.IntegerField(source="job_id")
    title = Text(source="job.title")
    delivery_deadline = serializers.DateTimeField()
    stage = serializers.SerializerMethodField(
        help_text="Where the job stands, in the job statuses' names (the pages' stepper): "
        "awarded, funded, in_production, shipped, delivered, accepted; or the status it left "
        "that way with (failed, cancelled, disputed, resolved, refunded). `status` is the "
        "escrow's."
    )

    class Meta:
        model = Order
        fields = [
            "job",
            "title",
            "status",
            "stage",
            "price",
            "lead_time_days",
            "delivery_deadline",
            "delivered_at",
            "claim_deadline",
            "shop_amount",
            "fee",
        ]

    def get_stage(self, order: Order) -> str:
        # (annotated by OrderListApi's queryset)
        started, shipped = getattr(order, "parts_started", 0), getattr(order, "parts_shipped", 0)
        return job_stage(
            order.job, order, parts_started=started, parts_shipped=shipped, for_shop=True
        ).status


class OrderListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """The jobs your shop won, newest first."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE
    serializer_class = OrderOutput

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return Order.objects.none()
        # How many parts were started and shipped, for `stage`, in the same query.
        parts = "part_records__part_serial"
        shipped = Q(part_records__kind=PartRecord.Kind.SHIPPED)
        orders = selectors.order_list_for_shop(user=cast(User, self.request.user))
        return orders.annotate(
            parts_started=Count(parts, distinct=True),
            parts_shipped=Count(parts, filter=shipped, distinct=True),
        ).order_by("-created_at", "-id")  # (as Order.Meta: an aggregate drops the ordering)


class OrderDeliveredApi(APIView):
    """Record that a funded order was delivered: the operator writes it on chain, which opens
    the customer's claim window (accept or dispute; accepted by itself when it closes)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    @extend_schema(operation_id="orders_delivered", request=None, responses={202: ChainTxOutput})
    def post(self, request: Request, job_id: int) -> Response:
        chain_tx = shop_orders.order_mark_delivered(actor=cast(User, request.user), job_id=job_id)
        return Response(ChainTxOutput(chain_tx).data, status=202)
