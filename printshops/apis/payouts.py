"""The shop API's payouts: what a shop may withdraw from the AuctionHouse, and the withdrawal,
signed by the shop and relayed by the operator."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pattern, Text
from marketplace.models import User
from printshops import selectors as shop_selectors
from printshops.apis.chain import ChainTxOutput
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey
from printshops.services import orders as shop_orders


class PayoutOutput(serializers.Serializer):  # type: ignore[type-arg]
    amount = serializers.DecimalField(max_digits=40, decimal_places=0)
    tx_hash = Text(source="event.tx_hash")
    block = serializers.IntegerField(source="event.block_number")
    created_at = serializers.DateTimeField()


class PayoutsApi(APIView):
    """What your shop may withdraw from the AuctionHouse, the nonce to sign a withdrawal for,
    the withdrawals on their way, and those made (from final Withdrawn events)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = Text()
        pending = Text(help_text="Base units, at the latest block")
        nonce = serializers.IntegerField(help_text="Sign your next withdrawal with this nonce")
        withdrawing = ChainTxOutput(
            many=True,
            help_text="Withdrawals on their way: relayed, and not yet payouts (their Withdrawn "
            "event final). Once mined, `pending` reads 0 while the payout waits for finality",
        )
        payouts = PayoutOutput(many=True)

    @extend_schema(operation_id="payouts", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        key = cast(ApiKey, request.auth)
        return Response(
            self.OutputSerializer(shop_selectors.payout_state(organization=key.organization)).data
        )


class PayoutWithdrawApi(APIView):
    """Withdraw your whole balance to your shop's address. Sign the EIP-712 `Withdrawal(account,
    nonce, deadline)` (printfair.withdrawals.sign_withdrawal) with the shop's registered key; the
    operator relays it, so the shop needs no gas."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.ORDERS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        deadline = serializers.IntegerField(min_value=1, help_text="Unix time, within a day")
        signature = Pattern(r"^0x[0-9a-fA-F]{130}$")

    @extend_schema(
        operation_id="payouts_withdraw", request=InputSerializer, responses={202: ChainTxOutput}
    )
    def post(self, request: Request) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        chain_tx = shop_orders.payout_withdraw(
            actor=cast(User, request.user),
            deadline=given.validated_data["deadline"],
            signature=bytes.fromhex(given.validated_data["signature"][2:]),
        )
        return Response(ChainTxOutput(chain_tx).data, status=202)
