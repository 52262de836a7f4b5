"""The chain in the shop API: what PrintFair settles on (public), and the state of a chain write
PrintFair relays for a shop (its bids, deliveries and withdrawals)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Text
from printshops import selectors


class SettlementTokenOutput(serializers.Serializer):  # type: ignore[type-arg]
    address = Text(allow_null=True)
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
        rpc_url = Text(help_text="A node to check the chain with; any will do")
        contracts = serializers.DictField(child=Text())
        settlement_token = SettlementTokenOutput()

    @extend_schema(operation_id="chain_info", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.chain_info()).data)


class ChainTxOutput(serializers.Serializer):  # type: ignore[type-arg]
    """A chain write on its way: its state, and once mined its transaction and block."""

    status = Text()
    tx_hash = Text(allow_null=True)
    block = serializers.IntegerField(source="block_number", allow_null=True)
    error = Text()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["tx_hash"] = data["tx_hash"] or None
        return dict(data)
