"""Who may call the shop API: shops' API keys, verified shops, and the scope a view needs."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from printshops.models import ApiKey


class IsShop(permissions.BasePermission):
    """Any print shop's API key, verified or not (a new shop registers its keys before)."""

    message = "Only print shops' API keys can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        return isinstance(key, ApiKey) and key.organization.is_print_shop


class IsVerifiedShop(permissions.BasePermission):
    """API keys belong to print shops; only shops an operator verified see jobs."""

    message = "This print shop is not verified yet. PrintFair's operators verify new shops."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        profile = getattr(key.organization, "shop_profile", None)
        return profile is not None and profile.is_verified


class HasScope(permissions.BasePermission):
    message = "This API key does not have the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        return isinstance(key, ApiKey) and getattr(view, "required_scope", None) in key.scopes
