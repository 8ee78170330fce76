"""Plug-in registries: a plain dict of named classes, filled by a ``@register`` decorator.

Every plug-in point in plexnet (ledger entry kinds, compute task kinds, and the
data gates to come) is a base class plus one :class:`Registry`. Registering sets
the class's name attribute, so a class always knows the name it answers to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Registry"]

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Named classes of one plug-in point.

    Args:
        what: what a plug-in is called in messages ("entry kind").
        attribute: class attribute that receives the registered name.
        missing: builds the error raised for an unknown name.
    """

    def __init__(self, what: str, attribute: str,
                 missing: Callable[[str], Exception]) -> None:
        self._what = what
        self._attribute = attribute
        self._missing = missing
        self._classes: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: make the class the plug-in called ``name``."""

        def decorate(cls: C) -> C:
            known = self._classes.get(name)
            if known is not None and known is not cls:
                raise ValueError(f"{self._what} {name!r} is already registered")
            setattr(cls, self._attribute, name)
            self._classes[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> C:
        """The class registered as ``name``; raises the registry's ``missing`` error."""
        try:
            return self._classes[name]
        except KeyError:
            raise self._missing(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def names(self) -> list[str]:
        return sorted(self._classes)

    def modules(self) -> dict[str, str]:
        """Each registered name and the module that defines its class."""
        return {name: self._classes[name].__module__ for name in self.names()}
