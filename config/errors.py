"""The one domain error type. Services raise it; the API maps it to the error format in
config/api.py and browser views show its message (and field errors) on the form."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses, with a message a person can act on.

    `fields` maps form/serializer field names to messages when the error is about particular
    fields; `status` is the HTTP status the API answers with.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        fields: dict[str, list[str]] | None = None,
        status: int = 400,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}
        self.status = status
        # Seconds after which trying again may work (sent as Retry-After), for refusals that
        # are about now rather than about the request: a chain node that does not answer.
        self.retry_after = retry_after

    def add_to_form(self, form: Any) -> None:
        """Show this error on a Django form: next to its fields, or above the form."""
        if not self.fields:
            form.add_error(None, self.message)
        for name, messages in self.fields.items():
            for message in messages:
                form.add_error(name if name in form.fields else None, message)
