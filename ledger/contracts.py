"""The ledger's contracts (DESIGN.md section 4): the build artifacts that
ledger/contracts/compile.mjs writes, their deployment (`manage.py deploy_contracts`), web3
handles bound to the recorded addresses, and decoding of their custom errors.

Deployment uses plain eth_* calls only, so it works against any JSON-RPC node."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db.models import QuerySet, Subquery
from django.utils import timezone
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ABI, ABIError, ChecksumAddress, HexAddress, HexStr
from eth_utils.abi import (
    abi_to_signature,
    function_signature_to_4byte_selector,
    get_abi_input_names,
    get_abi_input_types,
)
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxParams, Wei

from ledger.chain import ChainConfig, FeeMode, arbiter_account, chain_config
from ledger.models import ChainEvent, Deployment

BUILD_DIR = Path(__file__).resolve().parent / "contracts" / "build"

# Deployed on every chain, in this order.
CORE_CONTRACTS = ("RecordAnchor", "DesignRegistry", "MachineRegistry")
# Anyone with its minter role prints money, so it goes only where money is not real.
TEST_STABLECOIN = "TestStablecoin"
# Escrows in the settlement token: CHAIN_SETTLEMENT_TOKEN, or the test token on dev chains.
AUCTION_HOUSE = "AuctionHouse"
ZERO_ADDRESS = ChecksumAddress(HexAddress(HexStr("0x" + "00" * 20)))
DEV_CHAIN_IDS = frozenset({31337})

RECEIPT_TIMEOUT = 120.0


class ContractNotDeployed(LookupError):
    pass


class DeployError(RuntimeError):
    pass


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: ABI
    bytecode: HexStr


@cache
def load_artifact(name: str) -> Artifact:
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LookupError(f"no artifact {path}: run `make contracts`") from None
    return Artifact(name=name, abi=cast(ABI, data["abi"]), bytecode=HexStr(data["bytecode"]))


#: The ERC-20 that escrow settles in, by the name outbox rows and callers use for it: the token
#: in CHAIN_SETTLEMENT_TOKEN, or the test token deployed on a dev chain.
SETTLEMENT_TOKEN = "SettlementToken"  # noqa: S105 - a contract name, not a secret


def _artifact_name(name: str) -> str:
    # The settlement token speaks the test token's ABI, a superset of ERC-20's.
    return TEST_STABLECOIN if name == SETTLEMENT_TOKEN else name


def contract_address(name: str, chain_id: int) -> ChecksumAddress:
    """Where `name` lives on chain `chain_id`: its recorded deployment (or, for the settlement
    token, CHAIN_SETTLEMENT_TOKEN when set)."""
    if name == SETTLEMENT_TOKEN and settings.CHAIN_SETTLEMENT_TOKEN:
        return to_checksum_address(settings.CHAIN_SETTLEMENT_TOKEN)
    name = _artifact_name(name)
    address = _deployed(name, chain_id).values_list("address", flat=True).first()
    if address is None:
        raise ContractNotDeployed(
            f"{name} is not deployed on chain {chain_id}: run `manage.py deploy_contracts`"
        )
    return to_checksum_address(address)


def deployed_address(name: str, chain_id: int) -> Subquery:
    """The address of `name`, one of the contracts `deploy_contracts` deploys, as part of another
    query (None when not deployed): a hot path reads the address it checks a signature against
    in the same round trip as its own rows, and always the current deployment (a redeploy has no
    cache to invalidate)."""
    return Subquery(_deployed(name, chain_id).values("address")[:1])


def _deployed(name: str, chain_id: int) -> QuerySet[Deployment]:
    return Deployment.objects.filter(chain_id=chain_id, name=name)


def contract(w3: Web3, name: str, *, chain_id: int | None = None) -> Contract:
    """`name` at the address recorded for the chain `w3` talks to (or `chain_id`)."""
    chain_id = w3.eth.chain_id if chain_id is None else chain_id
    return w3.eth.contract(
        address=contract_address(name, chain_id), abi=load_artifact(_artifact_name(name)).abi
    )


@cache
def _function_coder(name: str, function: str) -> tuple[bytes, tuple[str, ...]]:
    """The selector and argument types of `name.function` (the contracts overload no names)."""
    abi = load_artifact(_artifact_name(name)).abi
    matches = [e for e in abi if e["type"] == "function" and e["name"] == function]
    if len(matches) != 1:
        raise LookupError(f"{name} has {len(matches)} functions named {function!r}, not one")
    entry = matches[0]
    types = tuple(get_abi_input_types(entry))
    if any(t.startswith("tuple") for t in types):
        raise LookupError(f"{name}.{function} takes a struct, which encode_call does not encode")
    return function_signature_to_4byte_selector(abi_to_signature(entry)), types


def _abi_value(abi_type: str, value: Any) -> Any:
    """A JSON-stored argument as eth_abi takes it: 0x-hex strings become bytes for bytes types,
    element by element in arrays."""
    if abi_type.endswith("]"):
        element = abi_type[: abi_type.rindex("[")]
        return [_abi_value(element, item) for item in value]
    if abi_type.startswith("bytes") and isinstance(value, str):
        return bytes(HexBytes(value))
    return value


def encode_call(name: str, function: str, args: list[Any]) -> bytes:
    """The calldata of `name.function(*args)`, with args as outbox rows store them. eth_abi
    directly: web3's contract layer validates and encodes a 100-call batch several times
    slower, and the sender encodes one per transaction."""
    selector, types = _function_coder(name, function)
    if len(args) != len(types):
        raise ValueError(f"{name}.{function} takes {len(types)} arguments, not {len(args)}")
    return selector + abi_encode(
        types, [_abi_value(t, v) for t, v in zip(types, args, strict=True)]
    )


@dataclass(frozen=True)
class CustomError:
    """A custom error decoded from revert data."""

    name: str
    args: dict[str, Any]

    def __str__(self) -> str:
        args = ", ".join(
            f"{key}=0x{value.hex()}" if isinstance(value, bytes) else f"{key}={value}"
            for key, value in self.args.items()
        )
        return f"{self.name}({args})"


@cache
def _errors_by_selector(name: str) -> Mapping[bytes, ABIError]:
    artifact = load_artifact(_artifact_name(name))
    errors = (item for item in artifact.abi if item["type"] == "error")
    return {function_signature_to_4byte_selector(abi_to_signature(e)): e for e in errors}


def decode_custom_error(name: str, data: str | bytes) -> CustomError | None:
    """The custom error of contract `name` that the revert `data` encodes, or None if the data is
    not one of its errors (an `Error(string)`, a panic, or another contract's error)."""
    raw = HexBytes(data)
    error = _errors_by_selector(name).get(bytes(raw[:4]))
    if error is None:
        return None
    types = get_abi_input_types(error)
    # Addresses checksummed, as web3 gives them everywhere else.
    values = [
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, abi_decode(types, raw[4:]), strict=True)
    ]
    names = [arg or str(i) for i, arg in enumerate(get_abi_input_names(error))]
    return CustomError(error["name"], dict(zip(names, values, strict=True)))


@dataclass(frozen=True)
class DeployOutcome:
    name: str
    address: ChecksumAddress
    deployed: bool
    # Why it was deployed, or why it was left alone.
    reason: str
    tx_hash: str | None = None
    block_number: int | None = None
    gas_used: int | None = None

    def __str__(self) -> str:
        if not self.deployed:
            return f"{self.name}: {self.reason} at {self.address}"
        return (
            f"{self.name}: deployed at {self.address} in block {self.block_number} "
            f"(tx {self.tx_hash}, gas {self.gas_used}; {self.reason})"
        )


def deploy_all(
    w3: Web3,
    *,
    account: LocalAccount,
    admin: ChecksumAddress | None = None,
    with_test_token: bool = False,
    config: ChainConfig | None = None,
    on_outcome: Callable[[DeployOutcome], None] | None = None,
    replace_in_use: bool = False,
) -> list[DeployOutcome]:
    """Deploys whichever of the ledger's contracts are missing or out of date on the chain of
    `config`, from `account`, which also receives each contract's operational role; `admin`
    (default: `account`) gets the admin role. The test token goes to development chains, or
    anywhere when `with_test_token` is set. A changed AuctionHouse is not deployed over one
    that still holds money or open auctions, unless `replace_in_use`."""
    config = config or chain_config()
    node_chain_id = w3.eth.chain_id
    if node_chain_id != config.chain_id:
        raise DeployError(
            f"the node at {config.rpc_url} is chain {node_chain_id}, but CHAIN_ID is "
            f"{config.chain_id}: refusing to deploy to the wrong chain"
        )
    names = list(CORE_CONTRACTS)
    if with_test_token or config.chain_id in DEV_CHAIN_IDS:
        names.append(TEST_STABLECOIN)
    names.append(AUCTION_HOUSE)
    outcomes = []
    deployed: dict[str, ChecksumAddress] = {}
    for name in names:
        args = _constructor_args(name, admin or account.address, account.address, deployed)
        if args is None:
            outcome = DeployOutcome(
                name, ZERO_ADDRESS, deployed=False, reason="skipped: set CHAIN_SETTLEMENT_TOKEN"
            )
        else:
            outcome = _deploy_if_needed(
                w3, load_artifact(name), config, account, args, replace_in_use=replace_in_use
            )
            deployed[name] = outcome.address
        if on_outcome is not None:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def treasury_address(operator: str) -> str:
    """Where the AuctionHouse pays its fees: PRINTFAIR_TREASURY, else the operator."""
    return settings.PRINTFAIR_TREASURY or operator


def _constructor_args(
    name: str,
    admin: ChecksumAddress,
    operator: ChecksumAddress,
    deployed: dict[str, ChecksumAddress],
) -> list[Any] | None:
    """What `name`'s constructor takes, or None when a setting it needs is missing. Every
    contract takes (admin, operator): the operator gets the operational role."""
    if name != AUCTION_HOUSE:
        return [admin, operator]
    token = settings.CHAIN_SETTLEMENT_TOKEN or deployed.get(TEST_STABLECOIN)
    if not token:
        return None
    treasury = treasury_address(operator)
    if not settings.CHAIN_ARBITER_KEY:
        raise DeployError(
            "set CHAIN_ARBITER_KEY: the AuctionHouse gives the arbiter role (resolving disputes) "
            "to its address, which must not be the operator's"
        )
    return [
        admin,
        settings.CHAIN_ADMIN_DELAY,
        operator,
        arbiter_account().address,
        to_checksum_address(token),
        to_checksum_address(treasury),
        settings.PRINTFAIR_FEE_BPS,
    ]


#: The events after which an auction holds nothing and waits for nobody.
_AUCTION_ENDS = (
    "AuctionFailed",
    "AuctionCancelled",
    "EscrowReleased",
    "DisputeResolved",
    "EscrowRefunded",
)


def auction_house_in_use(w3: Web3, address: str, *, token: str) -> str | None:
    """What a deployed AuctionHouse still holds, in words, or None: settlement tokens (escrow
    and balances not yet withdrawn) and auctions the indexer saw open that have not ended."""
    held = []
    erc20 = w3.eth.contract(
        address=to_checksum_address(token), abi=load_artifact(TEST_STABLECOIN).abi
    )
    balance = int(erc20.functions.balanceOf(to_checksum_address(address)).call())
    if balance:
        held.append(f"holds {balance} base units of escrow and unpaid balances")
    events = ChainEvent.objects.filter(address__iexact=address, removed=False)
    created = set(events.filter(name="AuctionCreated").values_list("args__jobId", flat=True))
    ended = set(events.filter(name__in=_AUCTION_ENDS).values_list("args__jobId", flat=True))
    if open_jobs := created - ended:
        held.append(f"has {len(open_jobs)} auction(s) not ended")
    return " and ".join(held) or None


def deployment_hash(artifact: Artifact, args: list[Any]) -> str:
    """What a deployment is: the creation bytecode and its constructor arguments, so that a new
    artifact or a new setting (the settlement token, say) means a new deployment."""
    constructor = next((item for item in artifact.abi if item["type"] == "constructor"), None)
    types = get_abi_input_types(constructor) if constructor else []
    return "0x" + keccak(HexBytes(artifact.bytecode) + abi_encode(types, args)).hex()


def _deploy_if_needed(
    w3: Web3,
    artifact: Artifact,
    config: ChainConfig,
    account: LocalAccount,
    args: list[Any],
    *,
    replace_in_use: bool = False,
) -> DeployOutcome:
    identity = deployment_hash(artifact, args)
    row = Deployment.objects.filter(chain_id=config.chain_id, name=artifact.name).first()
    if row is None:
        reason = "not deployed on this chain yet"
    elif not w3.eth.get_code(to_checksum_address(row.address)):
        reason = f"no code at the recorded {row.address} (was the chain reset?)"
    elif row.bytecode_hash != identity:
        reason = f"the artifact or its settings changed since {row.address} was deployed"
        if artifact.name == AUCTION_HOUSE and not replace_in_use:
            in_use = auction_house_in_use(w3, row.address, token=args[4])
            if in_use:
                raise DeployError(
                    f"{artifact.name} at {row.address} {in_use}: a new one would strand them "
                    "(the app uses one AuctionHouse). Finish them on it first "
                    "(docs/operations.md, 'Changing the contracts'), or pass "
                    "--replace-auction-house to deploy anyway."
                )
    else:
        return DeployOutcome(
            artifact.name, to_checksum_address(row.address), deployed=False, reason="up to date"
        )

    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    params: TxParams = {
        "from": account.address,
        "chainId": config.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        **fee_fields(w3, config.fee_mode),
    }
    try:
        tx = factory.constructor(*args).build_transaction(params)
    except ContractLogicError as exc:
        raise DeployError(f"{artifact.name}: the deployment would revert: {exc}") from exc
    signed = account.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise DeployError(
            f"{artifact.name}: the deployment reverted in tx {tx_hash.to_0x_hex()} "
            f"(block {receipt['blockNumber']}, gas {receipt['gasUsed']})"
        )
    address = to_checksum_address(receipt["contractAddress"])
    Deployment.objects.update_or_create(
        chain_id=config.chain_id,
        name=artifact.name,
        defaults={
            "address": address,
            "tx_hash": tx_hash.to_0x_hex(),
            "block_number": receipt["blockNumber"],
            "bytecode_hash": identity,
            # auto_now_add only fills it on creation; a redeployment is a new deployment.
            "deployed_at": timezone.now(),
        },
    )
    return DeployOutcome(
        artifact.name,
        address,
        deployed=True,
        reason=reason,
        tx_hash=tx_hash.to_0x_hex(),
        block_number=receipt["blockNumber"],
        gas_used=receipt["gasUsed"],
    )


def fee_fields(w3: Web3, fee_mode: FeeMode) -> TxParams:
    if fee_mode == "free":
        return {"gasPrice": Wei(0)}
    if fee_mode == "legacy":
        return {"gasPrice": w3.eth.gas_price}
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    priority = w3.eth.max_priority_fee
    # Twice the base fee keeps the transaction includable through several full blocks of
    # base-fee increases (12.5% each); only base fee plus tip is actually paid.
    return {"maxFeePerGas": Wei(2 * base_fee + priority), "maxPriorityFeePerGas": priority}
