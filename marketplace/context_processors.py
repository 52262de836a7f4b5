from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def organization(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's organisation, for the navigation bar."""
    user = getattr(request, "user", None)
    return {
        "organization": getattr(user, "organization", None)
        if user and user.is_authenticated
        else None
    }
