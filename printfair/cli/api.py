"""A small HTTP client for the shop API (``/api/v1/``), authenticated with an API key.

Every refusal comes back in the API's one error format,
``{"error": {"status", "code", "message", "fields"}}``, and becomes an ``ApiError`` carrying it;
a server that cannot be reached, or that does not answer in JSON, becomes a ``CliError`` naming
the URL, so that a wrong ``--api`` is easy to spot.

Every command imports this module (for its errors), so ``requests`` is imported only once a
client is made: commands that stay local do without it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from printfair import safejson
from printfair.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    import requests

__all__ = [
    "API_KEY_PATTERN",
    "AnswerLost",
    "ApiClient",
    "ApiError",
    "check_api_key",
    "check_api_url",
]

# printshops/authentication.py: `Authorization: Bearer pf_<prefix>_<secret>`.
API_KEY_PATTERN: Final = re.compile(r"^pf_[0-9a-f]+_[A-Za-z0-9_-]+$")
# Connect and read timeouts (seconds): reads may wait on a database lock under load.
TIMEOUT: Final = (10.0, 60.0)
# A bound on pages followed, so a server that links pages in a loop cannot hang the CLI.
MAX_PAGES: Final = 1000
# When PrintFair answers 429 (the API key's rate is used up) with a Retry-After in seconds, the
# request is sent again after that long: a throttled request was not acted on, so any method may
# be repeated. Longer waits, or more refusals in a row, end in the refusal.
MAX_RETRY_AFTER: Final = 300.0
MAX_THROTTLED: Final = 10


class AnswerLost(CliError):
    """The request went out but no answer came back: PrintFair may or may not have acted on it."""


class ApiError(CliError):
    """PrintFair refused a request; ``code`` is the API's error code (e.g. ``bidding_closed``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.fields = dict(fields or {})
        super().__init__(message, details=_field_lines(self.fields))


def _field_lines(fields: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, messages in fields.items():
        if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
            text = " ".join(messages)
        else:
            text = str(messages)
        lines.append(text if name == "non_field_errors" else f"{name}: {text}")
    return lines


def check_api_url(url: str) -> str:
    """The API's base URL without a trailing slash; a usage error for anything but http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"the API URL must look like https://printfair.example, not {url!r}")
    return url.rstrip("/")


def check_api_key(key: str | None) -> str:
    if not key:
        raise UsageError(
            "no API key: pass --api-key or set PRINTFAIR_API_KEY "
            "(create one on your shop's API keys page)"
        )
    if not API_KEY_PATTERN.match(key):
        raise UsageError("the API key is malformed: PrintFair API keys look like pf_<prefix>_<…>")
    return key


class ApiClient:
    """Calls to one PrintFair server, with one API key or none (public endpoints); paths are
    relative to the base URL."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        session: requests.Session | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        """With `api_key` None the client is anonymous: it reaches only public endpoints.
        `on_wait` hears how many seconds the client waits before repeating a throttled request."""
        import requests

        self.base_url = check_api_url(base_url)
        self._on_wait = on_wait
        self._session = session or requests.Session()
        self._session.headers.update({"Accept": "application/json", "User-Agent": "printfair-cli"})
        if api_key is not None:
            self._session.headers["Authorization"] = f"Bearer {check_api_key(api_key)}"

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._request("GET", self._url(path), params=params)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._request("POST", self._url(path), json=body)

    def put(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("PUT", self._url(path), json=body)

    def post_file(
        self, path: str, field: str, name: str, handle: IO[bytes], content_type: str
    ) -> Any:
        """A multipart POST of one file as `field`."""
        return self._request("POST", self._url(path), files={field: (name, handle, content_type)})

    def get_public(self, path: str) -> Any:
        """A GET of a public page's JSON outside /api/v1/ (e.g. /verify/<id>/proof.json)."""
        return self._request("GET", self.base_url + "/" + path.lstrip("/"))

    def paginate(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following the ``next`` links."""
        url: str | None = self._url(path)
        query = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self._request("GET", url, params=query)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise CliError(f"PrintFair at {self.base_url} answered {url} with no page")
            yield from page["results"]
            url, query = page.get("next"), None  # the next link carries the query
        raise CliError(f"PrintFair at {self.base_url} gave more than {MAX_PAGES} pages")

    def _url(self, path: str) -> str:
        return self.base_url + "/api/v1/" + path.lstrip("/")

    def stream(
        self, path: str, *, headers: Mapping[str, str], ok: tuple[int, ...] = (200,)
    ) -> requests.Response:
        """A GET whose body is still to be read (a download); an answer with another status
        than `ok` raises in the API's error format."""
        response = self._send("GET", self._url(path), headers=headers, stream=True)
        if response.status_code not in ok:
            with response:
                raise self._error(response)
        return response

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The response, or a CliError saying plainly why there is none; a throttled request is
        sent again once PrintFair's Retry-After has passed."""
        for _ in range(MAX_THROTTLED):
            response = self._send_once(method, url, **kwargs)
            delay = _retry_after(response)
            if delay is None:
                return response
            response.close()
            if self._on_wait is not None:
                self._on_wait(delay)
            time.sleep(delay)
            for _name, handle, *_rest in (kwargs.get("files") or {}).values():
                handle.seek(0)
        return self._send_once(method, url, **kwargs)

    def _send_once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        import requests
        from urllib3.exceptions import ProtocolError

        try:
            return self._session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.ConnectionError as exc:
            if exc.args and isinstance(exc.args[0], ProtocolError):
                raise AnswerLost(
                    f"the connection to PrintFair at {self.base_url} broke before it answered",
                    details=[_reason(exc)],
                ) from None
            raise CliError(
                f"cannot reach PrintFair at {self.base_url}", details=[_reason(exc)]
            ) from None
        except requests.Timeout:
            raise CliError(
                f"PrintFair at {self.base_url} did not answer within {TIMEOUT[1]:.0f} s"
            ) from None
        except requests.RequestException as exc:
            raise CliError(f"the request to {url} failed: {exc}") from None

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._send(method, url, **kwargs)
        if response.status_code >= 400:
            raise self._error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return safejson.loads(response.content)
        except ValueError:
            raise CliError(
                f"{url} did not answer in JSON: is {self.base_url} a PrintFair server?"
            ) from None

    def _error(self, response: requests.Response) -> ApiError:
        return api_error(response, self.base_url)


def api_error(response: requests.Response, base_url: str) -> ApiError:
    """A refusal in the API's error format (``{"error": {"code", "message", "fields"}}``)."""
    try:
        error = safejson.loads(response.content)["error"]
        message = str(error["message"]) or f"{response.status_code} {response.reason}"
        code = str(error.get("code", "error"))
        fields = error.get("fields") or {}
    except (ValueError, KeyError, TypeError):
        # Not the API's format: a proxy's page, or not PrintFair at all.
        message = f"PrintFair at {base_url} answered {response.status_code} {response.reason}"
        code, fields = "http_error", {}
    if response.status_code == 401:
        message += " Check --api-key or PRINTFAIR_API_KEY."
    return ApiError(
        message,
        status=response.status_code,
        code=code,
        fields=fields if isinstance(fields, dict) else {"non_field_errors": fields},
    )


def _retry_after(response: requests.Response) -> float | None:
    """How long PrintFair asks to wait before a throttled request is sent again; None for any
    other answer, or a wait too long (or not in seconds) to sit through."""
    if response.status_code != 429:
        return None
    try:
        delay = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return delay if 0 <= delay <= MAX_RETRY_AFTER else None


def _reason(exc: requests.ConnectionError) -> str:
    # requests nests urllib3's reason several levels deep; the innermost message is the useful one.
    text = str(exc.args[0]) if exc.args else str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text) or re.search(r"\('([^']+)'\)+$", text)
    return match.group(1) if match else text
