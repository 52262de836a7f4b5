"""Machines on chain (DESIGN.md section 8): each machine with its owner and operating shop, and
each key with the sequence numbers it signs, kept on the MachineRegistry so that anyone holding
an event a machine signed can check the signer there without asking PrintFair
(`IMachineRegistry.keyOf`; README, "Trust model").

Every write goes through the outbox in the caller's transaction, so the registry follows the
database: a machine is registered when the shop registers it, a key approved with the first
sequence number it signs (the registry retires the machine's key before it at the same number,
as `machine_key_approve` does here), a key revoked when the shop revokes it."""

from __future__ import annotations

from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue
from machines.models import Machine, MachineKey

CONTRACT = "MachineRegistry"


def machine_register_enqueue(*, machine: Machine) -> ChainTx:
    """The machine's registration, queued once: a machine registered before the registry was
    deployed gets it with its next key, which needs it."""
    if machine.register_tx is None:
        machine.register_tx = chaintx_enqueue(
            idempotency_key=f"machine.register:{machine.pk}",
            contract=CONTRACT,
            function="registerMachine",
            args=[machine.pk, machine.owner.owner_ref, machine.operator.owner_ref],
        )
        machine.save(update_fields=["register_tx"])
    return machine.register_tx


def machine_key_approve_enqueue(*, machine: Machine, key: MachineKey) -> ChainTx:
    """The key's approval from its first sequence number, signed once the machine's registration
    is mined (the registry refuses keys of a machine it does not know). A rotation needs no
    wait: the operator's wallet signs in queue order, so the key before is approved first."""
    if key.first_sequence is None:
        raise ValueError(f"the key {key.address} is not approved here: it has no first sequence")
    key.approve_tx = chaintx_enqueue(
        idempotency_key=f"machine.key_approve:{key.address}",
        contract=CONTRACT,
        function="approveKey",
        args=[machine.pk, key.address, key.first_sequence],
        waits_for=machine_register_enqueue(machine=machine),
    )
    key.save(update_fields=["approve_tx"])
    return key.approve_tx


def machine_key_revoke_enqueue(*, key: MachineKey) -> ChainTx | None:
    """The key's revocation, signed once its approval is mined; None for a key whose approval
    was never queued (revoked while it waited for the shop, or approved before the registry):
    the registry has nothing to revoke, and its `keyOf` already reads it as no key."""
    if key.approve_tx_id is None:
        return None
    key.revoke_tx = chaintx_enqueue(
        idempotency_key=f"machine.key_revoke:{key.address}",
        contract=CONTRACT,
        function="revokeKey",
        args=[key.machine_id, key.address],
        waits_for=key.approve_tx_id,
    )
    key.save(update_fields=["revoke_tx"])
    return key.revoke_tx
