"""The shop API's sealed bids: committed, revealed and listed (DESIGN.md section 6)."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pattern, Reused, Text, error_body
from config.errors import DomainError
from marketplace.models import User
from printfair.eip712 import BIDS_PER_REQUEST
from printshops import services
from printshops.apis.chain import ChainTxOutput
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey, Bid
from printshops.selectors import bids_for_shop


class BidOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A shop's own bid. The price shows only once the shop has revealed it; `relay` and
    `reveal_relay` follow its two chain writes, and `revealed_on_chain` turns true once the
    AuctionHouse's BidRevealed event for it is final (whoever sent the reveal)."""

    job = serializers.IntegerField(source="job_id")
    title = Text(source="job.title")
    commit_deadline = serializers.DateTimeField(source="job.commit_deadline")
    reveal_deadline = serializers.DateTimeField(source="job.reveal_deadline")
    relay = ChainTxOutput(
        source="commit_tx", allow_null=True, help_text="The relayed commitment's chain state"
    )
    reveal_relay = ChainTxOutput(
        source="reveal_tx", allow_null=True, help_text="The relayed reveal's chain state"
    )
    revealed_on_chain = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text="What the auction came to for this shop: pending (not awarded yet), won, "
        "lost, award_expired (won, but the customer did not fund it in time), cancelled, or "
        "failed (no award)"
    )

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
            "outcome",
            "updated_at",
        ]

    def get_revealed_on_chain(self, bid: Bid) -> bool:
        return bid.reveal_event_id is not None

    def get_outcome(self, bid: Bid) -> str:
        # Read by bids_for_shop; set by the services on a bid they just committed or revealed.
        return str(bid.outcome)  # type: ignore[attr-defined]


# The answers' BidOutput, its fields built once a thread (config.api.Reused): building them took
# a tenth of a bid request's time (py-spy).
_BID_SHOWN = Reused(BidOutput)


class JobBidsApi(APIView):
    """Submit a sealed bid on an open job (a higher version replaces yours until the bidding
    deadline), or read yours. The commitment and its EIP-712 signature are made with the shop's
    registered key (printfair.eip712); the price stays on the shop's side until revealed."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        commitment = Pattern(r"^0x[0-9a-fA-F]{64}$")
        # The AuctionHouse takes a uint64, the Bid's column a signed 64-bit integer: the
        # smaller bound, so that a version too large for the column is refused, not a 500.
        version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
        signature = Pattern(r"^0x[0-9a-fA-F]{130}$")

    given = Reused(InputSerializer)

    @extend_schema(operation_id="bids_list_for_job", responses=BidOutput(many=True))
    def get(self, request: Request, job_id: int) -> Response:
        bids = bids_for_shop(organization=cast(ApiKey, request.auth).organization)
        return Response(BidOutput(bids.filter(job_id=job_id), many=True).data)

    @extend_schema(operation_id="bids_commit", request=InputSerializer, responses={201: BidOutput})
    def post(self, request: Request, job_id: int) -> Response:
        data = self.given.check(request.data)
        bid = services.bid_commit(
            actor=cast(User, request.user),
            job_id=job_id,
            commitment=bytes.fromhex(data["commitment"][2:]),
            version=data["version"],
            signature=bytes.fromhex(data["signature"][2:]),
        )
        return Response(_BID_SHOWN.show(bid), status=201)


class JobBidRevealApi(APIView):
    """Reveal your sealed bid between the bidding and the reveal deadline."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        price = serializers.IntegerField(min_value=1, help_text="Settlement-token base units")
        lead_time_days = serializers.IntegerField(min_value=0, max_value=2**32 - 1)
        salt = Pattern(r"^0x[0-9a-fA-F]{64}$")

    given = Reused(InputSerializer)

    @extend_schema(operation_id="bids_reveal", request=InputSerializer, responses=BidOutput)
    def post(self, request: Request, job_id: int) -> Response:
        data = self.given.check(request.data)
        bid = services.bid_reveal(
            actor=cast(User, request.user),
            job_id=job_id,
            price=data["price"],
            lead_time_days=data["lead_time_days"],
            salt=bytes.fromhex(data["salt"][2:]),
        )
        return Response(_BID_SHOWN.show(bid))


class BidEntry(JobBidsApi.InputSerializer):
    """One bid of a request with several: the single bid's body, with its job."""

    job = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class BidsInput(serializers.Serializer):  # type: ignore[type-arg]
    """The body of a request with several bids, as the OpenAPI document shows it (BidsApi parses
    it in two steps, so that each entry is refused on its own)."""

    bids: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=BidEntry(), allow_empty=False, max_length=BIDS_PER_REQUEST
    )


class BidResult(serializers.Serializer):  # type: ignore[type-arg]
    """One entry of a request with several bids: its bid, or why it was refused."""

    job = serializers.IntegerField(allow_null=True, help_text="The entry's job, if it gave one")
    status = serializers.IntegerField(help_text="201, or the refusal's HTTP status")
    bid = BidOutput(required=False, help_text="The bid, when accepted")
    error = serializers.DictField(
        required=False, help_text="Why not, when refused: the API's error format"
    )


class BidResults(serializers.Serializer):  # type: ignore[type-arg]
    accepted = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BidResult(many=True)


class BidsApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Your shop's bids, newest first; or sealed bids on several jobs in one request (up to
    BIDS_PER_REQUEST, one per job), each accepted or refused on its own. The results come back
    in the order given, each with the HTTP status it would have had alone: 201 and the bid, or
    the error in the API's error format."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.BIDS_WRITE
    serializer_class = BidOutput

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        # Each entry is checked on its own (BidEntry): one that is malformed, or not even
        # an object, is refused alone.
        bids = serializers.ListField(
            child=serializers.JSONField(), allow_empty=False, max_length=BIDS_PER_REQUEST
        )

        class Meta:
            ref_name = "BidsParsed"

    given = Reused(InputSerializer)
    bid_entry = Reused(BidEntry)

    def get_queryset(self) -> QuerySet[Bid]:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return Bid.objects.none()
        key = cast(ApiKey, self.request.auth)
        return bids_for_shop(organization=key.organization)

    @extend_schema(
        operation_id="bids_commit_many",
        request=BidsInput,
        responses={200: BidResults},
    )
    def post(self, request: Request) -> Response:
        results: list[dict[str, Any]] = []
        bids: list[services.BidCommit] = []
        for entry in self.given.check(request.data)["bids"]:
            job = entry.get("job") if isinstance(entry, dict) else None
            results.append({"job": job if type(job) is int else None})
            try:
                data = self.bid_entry.check(entry)
            except serializers.ValidationError as exc:
                message = "The bid has invalid fields."
                results[-1] |= _refused(DomainError(message, code="validation_error"), exc.detail)
                continue
            bids.append(
                services.BidCommit(
                    job_id=data["job"],
                    commitment=bytes.fromhex(data["commitment"][2:]),
                    version=data["version"],
                    signature=bytes.fromhex(data["signature"][2:]),
                )
            )
        outcomes = services.bids_commit(actor=cast(User, request.user), bids=bids)
        accepted = [bid for bid in outcomes if isinstance(bid, Bid)]
        shown = (_BID_SHOWN.show(bid) for bid in accepted)
        checked = iter(outcomes)
        for result in results:
            if "status" in result:
                continue  # malformed
            outcome = next(checked)
            if isinstance(outcome, Bid):
                result |= {"status": 201, "bid": next(shown)}
            else:
                result |= _refused(outcome, outcome.fields)
        return Response(
            {
                "accepted": len(accepted),
                "refused": len(results) - len(accepted),
                "results": results,
            }
        )


def _refused(refusal: DomainError, fields: Any) -> dict[str, Any]:
    error = error_body(refusal.status, refusal.code, refusal.message, fields)["error"]
    return {"status": error["status"], "error": error}
