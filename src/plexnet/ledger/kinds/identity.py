"""Entry kinds that establish who is who: the genesis entry and identity registration.

Rules shared by every kind live here too: a signer must be registered (except
for the two kinds that register), and references must name existing rows.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from plexnet.core import canonical
from plexnet.ledger.entry import Body, Did, Entry, State, register
from plexnet.ledger.errors import EntryRejected

__all__ = [
    "Genesis",
    "IdentityRegister",
    "Name",
    "Ref",
    "json_text",
    "require",
    "require_registered",
    "require_row",
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")]
Role = Annotated[str, Field(pattern=r"^[a-z][a-z-]{0,31}$")]


def require(condition: bool, message: str) -> None:
    """Refuse the entry with ``message`` unless ``condition`` holds."""
    if not condition:
        raise EntryRejected(message)


def require_registered(state: State, did: str, what: str = "identity") -> dict[str, Any]:
    row = state.get("identities", did)
    require(row is not None, f"unknown {what} {did}: register it first (plexnet id new)")
    assert row is not None
    return row


def require_row(state: State, table: str, key: str, what: str) -> dict[str, Any]:
    row = state.get(table, key)
    if row is None:
        raise EntryRejected(f"unknown {what} {key!r}")
    return row


def json_text(value: Any) -> str:
    """Canonical JSON text for JSON-valued projection columns."""
    return canonical.dumps(value).decode("utf-8")


@register("ledger.genesis")
class Genesis(Body):
    """The first entry: names the log and its operator (who signs tree heads and mints)."""

    self_registering: ClassVar[bool] = True
    log_id: Ref
    operator: Did

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(seq == 0, "ledger.genesis may only be the first entry")
        require(entry.signer == self.operator == state.operator,
                "ledger.genesis must be signed by the log's operator")
        state.put("identities", self.operator, {
            "did": self.operator, "name": "operator", "roles": json_text(["operator"]),
            "registered_seq": seq,
        })


@register("identity.register")
class IdentityRegister(Body):
    """A participant announces its DID, a display name and its roles."""

    self_registering: ClassVar[bool] = True
    did: Did
    name: Name
    roles: list[Role] = Field(max_length=16, default_factory=list)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(entry.signer == self.did, "identity.register must be signed by the DID itself")
        require(state.get("identities", self.did) is None, f"{self.did} is already registered")
        state.put("identities", self.did, {
            "did": self.did, "name": self.name, "roles": json_text(sorted(set(self.roles))),
            "registered_seq": seq,
        })
