"""The shop API's keys: the shop's Ethereum address and HPKE public key, registered by signing a
one-time challenge."""

from __future__ import annotations

import base64
import binascii
from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pattern, Text
from marketplace.models import User
from printfair.keys import HpkeKem
from printshops import services
from printshops.apis.permissions import HasScope, IsShop
from printshops.models import ApiKey, PrintShopProfile


class ShopKeyChallengeApi(APIView):
    """A one-time challenge to sign when registering keys (valid for ten minutes)."""

    permission_classes = [permissions.IsAuthenticated, IsShop, HasScope]
    required_scope = ApiKey.Scope.KEYS_WRITE

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        shop_id = serializers.IntegerField()
        challenge = Text()
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
        challenge = Text(max_length=64)
        address = Text(max_length=42)
        signature = Pattern(r"^0x[0-9a-fA-F]{130}$", help_text="65 bytes, 0x-hex")
        hpke_kem = serializers.ChoiceField(choices=[k.value for k in HpkeKem])
        hpke_public_key = Text(help_text="base64")

        def validate_hpke_public_key(self, value: str) -> bytes:
            try:
                return base64.b64decode(value, validate=True)
            except (ValueError, binascii.Error):
                raise serializers.ValidationError("Not base64.") from None

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = Text(source="eth_address")
        hpke_kem = Text()
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
