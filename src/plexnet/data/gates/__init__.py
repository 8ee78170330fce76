"""gates — admission gates: plug-ins that flag or reject records of a batch.

Modules:
    base (base.py)         — Gate, GateContext, GateResult, Finding; register(), gate()

Importing this package registers every gate plexnet ships.
"""

from plexnet.data.gates.base import (
    Action,
    Finding,
    Gate,
    GateContext,
    GateResult,
    gate,
    register,
    registered,
)

__all__ = ["Action", "Finding", "Gate", "GateContext", "GateResult", "gate", "register",
           "registered"]
