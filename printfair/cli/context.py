"""What every command works with: the server and API key, the CLI's home (keys file and local
bid state), the passphrase, and the output streams.

Settings come from options, else the environment: ``--api`` / ``PRINTFAIR_API``, ``--api-key``
/ ``PRINTFAIR_API_KEY`` (or ``PRINTFAIR_API_KEY_FILE``), ``--home`` / ``PRINTFAIR_HOME``; the
passphrase only from ``PRINTFAIR_PASSPHRASE`` (or ``PRINTFAIR_PASSPHRASE_FILE``) or a prompt that
does not echo (never an option: it would be in the shell history and the process list).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final, TextIO

from printfair.cli.api import ApiClient, check_api_url
from printfair.cli.errors import CliError, UsageError
from printfair.cli.keyfile import KEYS_FILE, KeyFile, load_keyfile
from printfair.cli.state import LocalBids
from printfair.keys import checksum

__all__ = ["DEFAULT_API", "DEFAULT_HOME", "ChainInfo", "Context"]

DEFAULT_API: Final = "http://127.0.0.1:8000"
DEFAULT_HOME: Final = "~/.printfair"
MIN_PASSPHRASE_LENGTH: Final = 8


def secret_from_env(env: Mapping[str, str], name: str) -> str | None:
    """``$NAME``, else the contents of the file ``$NAME_FILE`` (for cron jobs and containers;
    one trailing newline is dropped), else None."""
    if name in env:
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}_FILE ({path}): {exc}") from None
    return text.removesuffix("\n").removesuffix("\r")


@dataclass(frozen=True)
class ChainInfo:
    """The chain PrintFair settles on (``GET /api/v1/chain/``): the EIP-712 domain of sealed bids
    is (chain id, AuctionHouse address), and prices are in the settlement token's units."""

    chain_id: int
    auction_house: str
    decimals: int


@dataclass
class Context:
    api_url: str
    api_key: str | None
    home: Path
    env: Mapping[str, str]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @classmethod
    def from_options(
        cls, *, api: str | None, api_key: str | None, home: str | None, env: Mapping[str, str]
    ) -> Context:
        home_path = Path(home or env.get("PRINTFAIR_HOME") or DEFAULT_HOME).expanduser()
        return cls(
            api_url=(api or env.get("PRINTFAIR_API") or DEFAULT_API).rstrip("/"),
            api_key=api_key or secret_from_env(env, "PRINTFAIR_API_KEY"),
            home=home_path,
            env=env,
        )

    # --- output ---------------------------------------------------------------------------

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out)

    def warn(self, message: str) -> None:
        print(f"printfair: {message}", file=self.err)

    def emit_json(self, value: Any) -> None:
        json.dump(value, self.out, indent=2)
        self.out.write("\n")

    # --- the server -----------------------------------------------------------------------

    @cached_property
    def api(self) -> ApiClient:
        # Checked only here, so that local commands work whatever PRINTFAIR_API says.
        return ApiClient(
            check_api_url(self.api_url),
            self.api_key or "",
            on_wait=lambda seconds: self.warn(
                f"PrintFair asks to slow down (this API key's rate): waiting {seconds:.0f} s"
            ),
        )

    @cached_property
    def chain(self) -> ChainInfo:
        info = self.api.get("chain/")
        try:
            chain_id = int(info["chain_id"])
            house = info["contracts"].get("AuctionHouse")
            decimals = int(info["settlement_token"]["decimals"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(
                f"PrintFair at {self.api_url} describes its chain oddly ({exc})"
            ) from None
        if not house:
            raise CliError(
                f"PrintFair at {self.api_url} has no AuctionHouse on chain {chain_id} yet: "
                "bidding is not open"
            )
        return ChainInfo(chain_id=chain_id, auction_house=checksum(house), decimals=decimals)

    # --- local files ----------------------------------------------------------------------

    @property
    def keys_path(self) -> Path:
        return self.home / KEYS_FILE

    def keys(self) -> KeyFile:
        return load_keyfile(self.keys_path)

    @cached_property
    def bids(self) -> LocalBids:
        return LocalBids(self.home)

    # --- the passphrase -------------------------------------------------------------------

    def passphrase(self, *, new: bool = False) -> str:
        """The keys' passphrase, from PRINTFAIR_PASSPHRASE or asked without echo (twice when
        ``new``). Without a terminal and without the variable it is an error, never a hang."""
        given = secret_from_env(self.env, "PRINTFAIR_PASSPHRASE")
        if given is None:
            if not sys.stdin.isatty():
                raise UsageError(
                    "a passphrase is needed: set PRINTFAIR_PASSPHRASE (there is no terminal "
                    "to ask on)"
                )
            try:
                given = getpass.getpass("Passphrase for the shop's keys: ")
                if new and getpass.getpass("The same passphrase again: ") != given:
                    raise UsageError("the two passphrases differ; nothing was written")
            except EOFError:
                raise UsageError("no passphrase given") from None
        if new and len(given) < MIN_PASSPHRASE_LENGTH:
            raise UsageError(
                f"choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters: it is all "
                "that protects the keys if this file is copied"
            )
        if not given:
            raise UsageError("the passphrase is empty")
        return given
