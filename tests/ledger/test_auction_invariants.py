"""Property tests of the AuctionHouse on a real anvil (issue 16): hypothesis drives random
sequences of calls from the customer, three shops, the operator, the arbiter and a stranger,
with the clock jumping between them, and after every call checks what must hold whatever
anyone does:

- the contract holds exactly the escrow of the funded jobs plus the balances not withdrawn yet;
- no job pays out more than its price, and one that is settled pays out exactly its price;
- a job that reached an end (failed, cancelled, released, resolved, refunded) stays there.

Most calls are refused (a stranger resolving, a late funding, a second refund...): a refused call
must change nothing, which the invariants check too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from ledger.anvil import rpc
from tests.ledger.house import DAY, USD, House, Status

JOBS = (1, 2, 3)
# A whole auction's bids: (shop, price, lead time in days, revealed?), mostly valid; some over
# the reserve or over the longest lead time.
BIDS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from([300 * USD, 400 * USD, 400 * USD, 700 * USD, 1_200 * USD]),
        st.sampled_from([1, 5, 5, 61]),
        st.sampled_from([True, True, False]),
    ),
    min_size=1,
    max_size=4,
)
PEOPLE = ["customer", "operator", "arbiter", "stranger", "shop0", "shop1", "shop2"]
ENDED = {Status.FAILED, Status.RELEASED, Status.RESOLVED, Status.REFUNDED, Status.CANCELLED}
HOLDING = {Status.FUNDED, Status.DELIVERED, Status.DISPUTED}

# The states the checks saw, across examples: the test asserts the machine got as far as an
# escrow paid out.
_reached: set[Status] = set()
# Set by the test for the state machine (hypothesis builds it without arguments).
_house: House | None = None


@dataclass
class Ledger:
    """What the test knows that the contract keeps to itself: each bid's opening, and what each
    job paid out."""

    openings: dict[tuple[int, str], tuple[int, int, bytes]] = field(default_factory=dict)
    paid: dict[int, int] = field(default_factory=dict)
    ended: dict[int, Status] = field(default_factory=dict)


class AuctionHouseMachine(RuleBasedStateMachine):
    #: The jobs, each through a whole auction (awarded, or failed if no bid was valid).
    auctions = Bundle("auctions")

    def __init__(self) -> None:
        super().__init__()
        assert _house is not None
        self.h = _house
        self.snapshot = rpc(self.h.url, "evm_snapshot")
        self.known = Ledger()
        self.people: dict[str, str] = {
            "customer": self.h.customer,
            "operator": self.h.operator,
            "arbiter": self.h.arbiter,
            "stranger": self.h.stranger.address,
            **{f"shop{n}": shop.address for n, shop in enumerate(self.h.shops)},
        }

    def teardown(self) -> None:
        rpc(self.h.url, "evm_revert", self.snapshot)

    # --- plumbing ---

    def attempt(self, function: Any, sender: str) -> Any | None:
        """Send the call; a refusal (the contract reverts) is an outcome like any other."""
        try:
            return self.h.send(function, sender)
        except (ContractCustomError, ContractLogicError, Web3RPCError):
            return None

    def events(self, name: str, receipt: Any) -> list[Any]:
        return self.h.events(name, receipt) if receipt is not None else []

    def record_payouts(self, receipt: Any) -> None:
        for event in self.events("EscrowReleased", receipt):
            args = event["args"]
            self.add_paid(args["jobId"], args["shopAmount"] + args["fee"])
        for event in self.events("DisputeResolved", receipt):
            args = event["args"]
            self.add_paid(args["jobId"], args["shopAmount"] + args["customerAmount"])
        for event in self.events("EscrowRefunded", receipt):
            self.add_paid(event["args"]["jobId"], event["args"]["amount"])

    def add_paid(self, job: int, amount: int) -> None:
        self.known.paid[job] = self.known.paid.get(job, 0) + amount

    # --- the calls ---

    @initialize()
    def the_customer_allows_the_house_its_tokens(self) -> None:
        self.h.send(self.h.token.functions.approve(self.h.house.address, 10**30), self.h.customer)

    def create(self, job: int, reserve: int, second_price: bool, pass_on: bool) -> None:
        start = self.h.now()
        self.attempt(
            self.h.house.functions.createAuction(
                job, self.h.customer, start + 3_600, start + 7_200, reserve, b"\x03" * 32,
                int(second_price), 60, 3 * DAY, pass_on,
            ),
            self.h.operator,
        )  # fmt: skip

    def commit(self, job: int, shop: int, price: int, lead: int, version: int) -> None:
        account: LocalAccount = self.h.shops[shop]
        salt = keccak(text=f"{job} {shop} {price} {lead} {version}")
        sealed = keccak(
            abi_encode(
                ["uint256", "address", "uint256", "uint32", "bytes32"],
                [job, account.address, price, lead, salt],
            )
        )
        if self.attempt(self.h.house.functions.commit(job, sealed, version), account.address):
            self.known.openings[(job, account.address)] = (price, lead, salt)

    def reveal(self, job: int, shop: int) -> None:
        address = self.h.shops[shop].address
        opening = self.known.openings.get((job, address))
        if opening is not None:
            price, lead, salt = opening
            reveal = self.h.house.functions.reveal(job, address, price, lead, salt)
            self.attempt(reveal, self.h.stranger.address)

    @initialize(
        target=auctions,
        auctions=st.lists(
            st.tuples(BIDS, st.booleans(), st.booleans()), min_size=len(JOBS), max_size=len(JOBS)
        ),
    )
    def three_auctions_to_start_with(
        self, auctions: list[tuple[list[tuple[int, int, int, bool]], bool, bool]]
    ) -> MultipleResults[int]:
        """Every example starts with each job through a whole auction (usually awarded: random
        single calls seldom get that far), each with its own bids and rules, to settle or
        attack."""
        for job, (bids, second_price, pass_on) in zip(JOBS, auctions, strict=True):
            self.whole_auction(job, bids, second_price, pass_on)
        return multiple(*JOBS)

    def whole_auction(
        self,
        job: int,
        bids: list[tuple[int, int, int, bool]],
        second_price: bool,
        pass_on: bool,
    ) -> None:
        """Create, bid, reveal some bids and finalize in one step; each call may still be
        refused (a bid is invalid...)."""
        self.create(job, 1_000 * USD, second_price, pass_on)
        for version, (shop, price, lead, _) in enumerate(bids, start=1):
            self.commit(job, shop, price, lead, version)
        self.h.travel(3_600)
        for shop, _, _, revealed in bids:
            if revealed:
                self.reveal(job, shop)
        self.h.travel(3_600)
        self.finalize(job, "stranger")

    def fund_and_settle(self, job: int, ending: str, share: int = 0) -> None:
        """Fund an award and take one of the ways an escrow ends (each call may be refused)."""
        self.fund(job)
        if ending == "no delivery":
            self.wait(20 * DAY)
            self.claim_refund(job, "customer")
            return
        if ending == "late delivery":
            self.wait(20 * DAY)
        self.mark_delivered(job, "operator")
        if ending == "accept":
            self.release(job, "customer")
        elif ending == "dispute":
            self.dispute(job, "customer")
            self.resolve(job, share, "arbiter")
        elif ending == "late delivery":
            self.claim_refund(job, "customer")
        else:
            self.wait(20 * DAY)
            self.release(job, "stranger")

    # One rule per way an escrow ends, so that each is drawn as often as the others.

    @rule(job=auctions, share=st.sampled_from([0, 150 * USD, 400 * USD]))
    def settled_by_a_dispute(self, job: int, share: int) -> None:
        self.fund_and_settle(job, "dispute", share)

    @rule(job=auctions)
    def settled_by_a_refund(self, job: int) -> None:
        self.fund_and_settle(job, "no delivery")

    @rule(job=auctions)
    def settled_by_acceptance(self, job: int) -> None:
        self.fund_and_settle(job, "accept")

    @rule(job=auctions)
    def settled_by_refusing_a_late_delivery(self, job: int) -> None:
        self.fund_and_settle(job, "late delivery")

    @rule(job=auctions)
    def settled_when_the_claim_window_closes(self, job: int) -> None:
        self.fund_and_settle(job, "wait")

    @rule(seconds=st.sampled_from([600, 3_600, DAY, 3 * DAY + 1, 20 * DAY]))
    def wait(self, seconds: int) -> None:
        self.h.travel(seconds)

    def finalize(self, job: int, who: str) -> None:
        self.attempt(self.h.house.functions.finalize(job), self.people[who])

    def expire_award(self, job: int, who: str) -> None:
        self.attempt(self.h.house.functions.expireAward(job), self.people[who])

    def fund(self, job: int) -> None:
        self.attempt(self.h.house.functions.fund(job), self.h.customer)

    def mark_delivered(self, job: int, who: str) -> None:
        self.attempt(self.h.house.functions.markDelivered(job), self.people[who])

    def release(self, job: int, who: str) -> None:
        self.record_payouts(self.attempt(self.h.house.functions.release(job), self.people[who]))

    def dispute(self, job: int, who: str) -> None:
        self.attempt(self.h.house.functions.dispute(job, b"\x01" * 32), self.people[who])

    def resolve(self, job: int, share: int, who: str) -> None:
        receipt = self.attempt(self.h.house.functions.resolve(job, share), self.people[who])
        if receipt is not None:
            # only the arbiter resolves
            assert who == "arbiter"
        self.record_payouts(receipt)

    def claim_refund(self, job: int, who: str) -> None:
        self.record_payouts(self.attempt(self.h.house.functions.claimRefund(job), self.people[who]))

    def cancel(self, job: int, who: str) -> None:
        self.attempt(self.h.house.functions.cancelAuction(job, b"\x02" * 32), self.people[who])

    @rule(
        call=st.sampled_from(
            [
                "finalize",
                "expireAward",
                "fund",
                "markDelivered",
                "release",
                "dispute",
                "resolve",
                "claimRefund",
                "cancelAuction",
            ]
        ),
        job=st.sampled_from(JOBS),
        who=st.sampled_from(PEOPLE),
        share=st.sampled_from([0, 150 * USD, 10**30]),
    )
    def anyone_calls(self, call: str, job: int, who: str, share: int) -> None:
        """Any party calls any step of any job at any time: most are refused, and the rules
        that protect each party must hold whoever tries."""
        functions = self.h.house.functions
        function = {
            "dispute": lambda: functions.dispute(job, b"\x01" * 32),
            "resolve": lambda: functions.resolve(job, share),
            "cancelAuction": lambda: functions.cancelAuction(job, b"\x02" * 32),
        }.get(call, lambda: getattr(functions, call)(job))()
        receipt = self.attempt(function, self.people[who])
        if call == "resolve" and receipt is not None:
            assert who == "arbiter", "only the arbiter resolves"
        self.record_payouts(receipt)

    @rule(who=st.sampled_from(["customer", "shop0", "shop1", "shop2", "stranger"]))
    def withdraw(self, who: str) -> None:
        self.attempt(self.h.house.functions.withdraw(), self.people[who])

    # --- what must hold ---

    @invariant()
    def the_books_balance(self) -> None:
        """The contract holds exactly the escrow of the funded jobs plus the balances not
        withdrawn; no job pays out more than its price (a settled one exactly its price); a job
        that ended stays ended."""
        escrowed = 0
        for job in JOBS:
            auction = self.h.auction(job)
            status, price = Status(auction["status"]), auction["price"]
            _reached.add(status)
            if status in HOLDING:
                escrowed += price
            paid = self.known.paid.get(job, 0)
            assert paid <= price
            if status in {Status.RELEASED, Status.RESOLVED, Status.REFUNDED}:
                assert paid == price
            before = self.known.ended.get(job)
            if before is not None:
                assert status == before, f"job {job} left {before.name} for {status.name}"
            elif status in ENDED:
                self.known.ended[job] = status
        # (Only the customer, the shops and the treasury are ever credited; the operator, the
        # arbiter and the stranger are left out to keep the check cheap.)
        payees = {self.h.customer, self.h.treasury, *(shop.address for shop in self.h.shops)}
        owed = sum(self.h.pending(a) for a in payees)
        assert self.h.balance(self.h.house.address) == escrowed + owed


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_no_sequence_of_calls_breaks_the_auction_houses_books(ah: House) -> None:
    global _house
    _house = ah
    _reached.clear()
    try:
        run_state_machine_as_test(
            AuctionHouseMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=10,
                derandomize=True,
            ),
        )
    finally:
        _house = None
    # The examples got past the award to money paid out (which ways depends on the draws: each
    # is also tested on its own in test_auction_house.py).
    assert Status.AWARDED in _reached, _reached
    assert _reached & {Status.RELEASED, Status.RESOLVED, Status.REFUNDED}, _reached
