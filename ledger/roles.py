"""Who holds which role on a deployed contract: from its RoleGranted and RoleRevoked events as
the indexer stored them once final (AccessControl keeps no list, and scanning the chain's logs
while an admin waits would take one call per log window), and for the AuctionHouse its two-step
admin, read from the contract (docs/operations.md, "Roles and keys")."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils.crypto import keccak
from web3 import Web3

from ledger.contracts import contract
from ledger.models import ChainEvent, Deployment

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


def contract_roles(w3: Web3, deployment: Deployment) -> Roles:
    """The role holders of `deployment` as of the final chain the indexer has read; for the
    AuctionHouse also its admin move and terms, read from the node (`w3`: a client with short
    timeouts when someone waits)."""
    events = ChainEvent.objects.filter(
        chain_id=deployment.chain_id,
        address__iexact=deployment.address,
        name__in=("RoleGranted", "RoleRevoked"),
        removed=False,
    ).order_by("block_number", "log_index")
    holders: dict[str, set[str]] = {}
    for event in events:
        role = bytes.fromhex(str(event.args["role"]).removeprefix("0x"))
        name = ROLE_NAMES.get(role, "0x" + role.hex())
        accounts = holders.setdefault(name, set())
        if event.name == "RoleGranted":
            accounts.add(str(event.args["account"]))
        else:
            accounts.discard(str(event.args["account"]))
    roles = {name: sorted(accounts) for name, accounts in holders.items() if accounts}
    if deployment.name != "AuctionHouse":
        return Roles(holders=roles)
    functions = contract(w3, deployment.name, chain_id=deployment.chain_id).functions
    new_admin, schedule = functions.pendingDefaultAdmin().call()
    pending = (new_admin, int(schedule)) if int(schedule) else None
    return Roles(
        holders=roles,
        pending_admin=pending,
        admin_delay=int(functions.defaultAdminDelay().call()),
        facts={"treasury": functions.treasury().call(), "fee": f"{functions.feeBps().call()} bps"},
    )
