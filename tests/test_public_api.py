"""Each package declares its surface: a docstring mapping its modules, and an honest __all__."""

import importlib
import pkgutil
from pathlib import Path

import pytest

import plexnet

SRC = Path(plexnet.__file__).parent
PACKAGES = ["plexnet." + p.name for p in sorted(SRC.iterdir()) if (p / "__init__.py").exists()]
PACKAGES += ["plexnet.ledger.kinds"]


def _all_modules():
    for info in pkgutil.walk_packages([str(SRC)], prefix="plexnet."):
        if not info.name.endswith("__main__"):  # importing it runs the CLI
            yield info.name


@pytest.mark.parametrize("name", PACKAGES)
def test_package_docstring_maps_every_module(name):
    package = importlib.import_module(name)
    doc = package.__doc__ or ""
    folder = Path(package.__file__).parent
    for module in sorted(folder.glob("*.py")):
        if module.stem != "__init__":
            assert f"({module.name})" in doc, f"{name} docstring does not map {module.name}"


def _isort_key(symbol: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and modules
    group = 0 if symbol.isupper() else 1 if symbol[0].isupper() else 2
    return group, symbol


@pytest.mark.parametrize("name", sorted(set(_all_modules())))
def test_all_is_sorted_and_names_exist(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if name.split(".")[-1] in ("main",) and exported is None:
        return
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"
