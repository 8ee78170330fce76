"""Credit entry kinds: mint, transfer, escrow, release, slash.

Amounts are integer micro-credits (1 credit = 1,000,000). Every credit sits in
exactly one account — a participant's DID or ``escrow:<id>`` — so the balances
sum to the total minted after every entry; ``ledger verify`` checks it.

Who may sign what:

* ``credit.mint``     — the operator only, to a registered identity.
* ``credit.transfer`` — the sender (the signer), to a registered identity.
* ``credit.escrow``   — the payer (the signer) locks credits under an arbiter.
* ``credit.release``  — the payer or the arbiter pays out of an open escrow.
* ``credit.slash``    — the arbiter only: a penalty paid out of an escrow (a stake).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from plexnet.ledger.entry import Amount, Body, Did, Entry, State, register
from plexnet.ledger.kinds.identity import Ref, require, require_registered, require_row
from plexnet.ledger.kinds.jobs import check_slash_evidence, pay_attempts

__all__ = [
    "MICRO",
    "Escrow",
    "Mint",
    "Release",
    "Slash",
    "Transfer",
    "credits",
    "escrow_account",
    "micro",
]

MICRO: Final = 1_000_000
Memo = Annotated[str, Field(max_length=500)]


def micro(credits_: float) -> int:
    """Credits to integer micro-credits (rounded to the nearest micro-credit)."""
    return round(credits_ * MICRO)


def credits(amount: int) -> float:
    """Micro-credits to credits, for display."""
    return amount / MICRO


def escrow_account(escrow_id: str) -> str:
    return f"escrow:{escrow_id}"


def balance(state: State, account: str) -> int:
    row = state.get("accounts", account)
    return int(row["balance"]) if row else 0


def _credit(state: State, account: str, amount: int, seq: int) -> None:
    state.put("accounts", account, {
        "account": account, "balance": balance(state, account) + amount, "updated_seq": seq,
    })


def move(state: State, src: str, dst: str, amount: int, seq: int) -> None:
    """Move ``amount`` from ``src`` to ``dst``; refuse if ``src`` cannot cover it."""
    have = balance(state, src)
    require(have >= amount, f"insufficient funds: {src} holds {credits(have):.6f} credits, "
            f"needs {credits(amount):.6f}")
    _credit(state, src, -amount, seq)
    _credit(state, dst, amount, seq)


@register("credit.mint")
class Mint(Body):
    to: Did
    amount: Amount
    memo: Memo = ""

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(entry.signer == state.operator, "only the ledger operator may mint credits")
        require_registered(state, self.to, "recipient")
        _credit(state, self.to, self.amount, seq)


@register("credit.transfer")
class Transfer(Body):
    to: Did
    amount: Amount
    memo: Memo = ""

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(self.to != entry.signer, "cannot transfer credits to oneself")
        require_registered(state, self.to, "recipient")
        move(state, entry.signer, self.to, self.amount, seq)


@register("credit.escrow")
class Escrow(Body):
    escrow_id: Ref
    amount: Amount
    arbiter: Did
    purpose: Memo = ""

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("escrows", self.escrow_id) is None,
                f"escrow {self.escrow_id!r} already exists")
        require_registered(state, self.arbiter, "arbiter")
        move(state, entry.signer, escrow_account(self.escrow_id), self.amount, seq)
        state.put("escrows", self.escrow_id, {
            "escrow_id": self.escrow_id, "payer": entry.signer, "arbiter": self.arbiter,
            "amount": self.amount, "remaining": self.amount, "purpose": self.purpose,
            "status": "open", "created_seq": seq, "updated_seq": seq,
        })


def _pay_out(state: State, escrow_id: str, to: str, amount: int, seq: int) -> None:
    row = require_row(state, "escrows", escrow_id, "escrow")
    require(row["status"] == "open", f"escrow {escrow_id!r} is closed")
    require(amount <= row["remaining"],
            f"escrow {escrow_id!r} holds {credits(row['remaining']):.6f} credits, "
            f"cannot pay {credits(amount):.6f}")
    require_registered(state, to, "recipient")
    move(state, escrow_account(escrow_id), to, amount, seq)
    remaining = row["remaining"] - amount
    state.put("escrows", escrow_id, {
        **row, "remaining": remaining, "status": "open" if remaining else "closed",
        "updated_seq": seq,
    })


@register("credit.release")
class Release(Body):
    """Pay out of an escrow. Naming ``attempts`` makes it a payment for verified work:
    the ledger checks each was verified, done by ``to``, unpaid, and worth ``amount``."""

    escrow_id: Ref
    to: Did
    amount: Amount
    memo: Memo = ""
    attempts: list[str] = Field(max_length=100_000, default_factory=list)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        row = require_row(state, "escrows", self.escrow_id, "escrow")
        require(entry.signer in (row["payer"], row["arbiter"]),
                f"only the payer or arbiter of escrow {self.escrow_id!r} may release it")
        if self.attempts:
            pay_attempts(state, seq, self.escrow_id, self.to, self.attempts, self.amount)
        _pay_out(state, self.escrow_id, self.to, self.amount, seq)


@register("credit.slash")
class Slash(Body):
    """The arbiter takes a penalty from an escrow (a provider's stake), optionally citing
    the ``attempt`` verification judged bad as evidence."""

    escrow_id: Ref
    to: Did
    amount: Amount
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    attempt: str | None = None

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        row = require_row(state, "escrows", self.escrow_id, "escrow")
        require(entry.signer == row["arbiter"],
                f"only the arbiter of escrow {self.escrow_id!r} may slash it")
        if self.attempt is not None:
            check_slash_evidence(state, row["payer"], self.attempt)
        _pay_out(state, self.escrow_id, self.to, self.amount, seq)
