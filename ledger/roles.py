"""Who holds which role on a deployed contract, read from the chain: the contract's own
RoleGranted and RoleRevoked events since its deployment (AccessControl keeps no list), and for
the AuctionHouse its two-step admin (docs/operations.md, "Roles and keys")."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils.crypto import keccak
from web3 import Web3

from ledger.chain import ChainConfig, chain_config
from ledger.contracts import contract
from ledger.models import Deployment

#: The roles the ledger's contracts use, by the hash AccessControl keys them with.
ROLE_NAMES = {
    b"\x00" * 32: "admin",
    keccak(text="OPERATOR_ROLE"): "operator",
    keccak(text="ARBITER_ROLE"): "arbiter",
    keccak(text="ANCHORER_ROLE"): "anchorer",
    keccak(text="REGISTRAR_ROLE"): "registrar",
    keccak(text="MINTER_ROLE"): "minter",
}


@dataclass(frozen=True)
class Roles:
    #: Role name (or 0x-hash of a role this module does not know) -> holders, sorted.
    holders: dict[str, list[str]]
    #: The AuctionHouse's admin move in progress: (new admin, from when it can be accepted).
    pending_admin: tuple[str, int] | None = None
    admin_delay: int | None = None
    facts: dict[str, str] = field(default_factory=dict)


def contract_roles(w3: Web3, deployment: Deployment, config: ChainConfig | None = None) -> Roles:
    """The role holders of `deployment` now, from its role events (in CHAIN_MAX_LOG_RANGE
    block windows)."""
    config = config or chain_config()
    handle = contract(w3, deployment.name, chain_id=deployment.chain_id)
    events = []
    latest = int(w3.eth.block_number)
    start = deployment.block_number or 0
    while start <= latest:
        end = min(start + config.max_log_range - 1, latest)
        for kind in ("RoleGranted", "RoleRevoked"):
            for log in getattr(handle.events, kind)().get_logs(from_block=start, to_block=end):
                events.append((log["blockNumber"], log["logIndex"], kind, log["args"]))
        start = end + 1
    holders: dict[str, set[str]] = {}
    for _, _, kind, args in sorted(events, key=lambda e: (e[0], e[1])):
        name = ROLE_NAMES.get(bytes(args["role"]), "0x" + bytes(args["role"]).hex())
        accounts = holders.setdefault(name, set())
        if kind == "RoleGranted":
            accounts.add(args["account"])
        else:
            accounts.discard(args["account"])
    roles = {name: sorted(accounts) for name, accounts in holders.items() if accounts}
    if deployment.name != "AuctionHouse":
        return Roles(holders=roles)
    functions = handle.functions
    new_admin, schedule = functions.pendingDefaultAdmin().call()
    pending = (new_admin, int(schedule)) if int(schedule) else None
    return Roles(
        holders=roles,
        pending_admin=pending,
        admin_delay=int(functions.defaultAdminDelay().call()),
        facts={"treasury": functions.treasury().call(), "fee": f"{functions.feeBps().call()} bps"},
    )
