"""The OpenAPI document (drf-spectacular): unique component names for the API classes' nested
serializers, and every error an operation can answer, in the API's one error format."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import Direction

ERROR_COMPONENT = "Error"

#: What each error status means, as the document says it.
ERRORS: dict[str, str] = {
    "400": "The request is malformed or has invalid fields (`fields` says which).",
    "401": "No API key, or one that is unknown, revoked or expired.",
    "403": "The key may not do this: not a verified print shop, or without the scope needed.",
    "404": "There is no such resource, or it is not this shop's.",
    "405": "The method is not allowed here.",
    "406": "The answer cannot be given in a media type the request accepts (JSON only).",
    "409": "The request conflicts with the resource's current state (`code` says how).",
    "413": "The request body is larger than the API accepts.",
    "415": "The request body is in a media type this operation does not take.",
    "429": "Too many requests for this key: wait as long as `Retry-After` says.",
    "503": (
        "A service PrintFair needs (the chain node, the database) did not answer: nothing was "
        "done; try again after `Retry-After` seconds."
    ),
}
_UNSAFE = {"post", "put", "patch", "delete"}


class AutoSchema(SpectacularAutoSchema):
    """The API classes nest their serializers (`JobBidsApi.InputSerializer`), which would all be
    named `Input`, colliding: their components take the API class's name (`JobBidsInput`)."""

    def get_serializer_name(self, serializer: Any, direction: Direction) -> str:
        name = str(super().get_serializer_name(serializer, direction))
        owner, dot, _ = type(serializer).__qualname__.rpartition(".")
        if dot and name in ("InputSerializer", "OutputSerializer"):
            return owner.removesuffix("Api") + name
        return name


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: every operation lists the error statuses it can answer with, each in
    the one error format (config/api.py's error_body), and 429/503 with their Retry-After."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = _error_schema()
    components.setdefault("headers", {})["RetryAfter"] = {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _UNSAFE | {"get", "head"}:
                continue
            for status in _statuses(path, method, operation):
                operation.setdefault("responses", {}).setdefault(status, _error_response(status))
    return result


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["400", "405", "406", "429", "503"]
    security = operation.get("security") or []
    if security and {} not in security:  # a key is required: it can be refused
        statuses += ["401", "403"]
    paginated = any(p.get("name") == "page" for p in operation.get("parameters", []))
    if "{" in path or paginated:  # a row that is not there, or a page past the last
        statuses.append("404")
    if method in _UNSAFE:
        statuses += ["409", "413", "415"]
    return sorted(statuses)


def _error_response(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }
    if status in ("429", "503"):
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The API's one error format.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message"],
                "properties": {
                    "status": {"type": "integer", "description": "The HTTP status, repeated."},
                    "code": {"type": "string", "description": "What went wrong, for programs."},
                    "message": {"type": "string", "description": "What went wrong, for people."},
                    "fields": {
                        "type": "object",
                        "description": "Per field (or `records.{i}.{field}` in a batch), what "
                        "is wrong with it.",
                        "additionalProperties": True,
                    },
                },
            }
        },
    }
