"""GET /healthz: whether this web process can answer, for a container's health check or a load
balancer. It asks the database for nothing but a round trip: a page that needs the chain or the
broker says so itself (503 with Retry-After), and neither is a reason to take the web process
out of service. Plain HTTP is answered too (SECURE_REDIRECT_EXEMPT): the checker is local."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
