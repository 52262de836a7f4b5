"""bench/urls.py plus the baseline of bench/bids.py: an API endpoint with the shop API's
defaults (API-key authentication, the authenticated-only permission, the per-key throttle) that
parses the same JSON body as a bid and answers {"ok": true}. The framework's own ceiling for an
authenticated POST; not in the product's URLs."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.urls import urlpatterns as bench_urlpatterns


class BareApi(APIView):
    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the body, as the bid endpoint does
        return Response({"ok": True})


urlpatterns = [path("bench/api/ok/", BareApi.as_view()), *bench_urlpatterns]
