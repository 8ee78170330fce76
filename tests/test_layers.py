"""Imports point down the layers only: core <- ledger <- compute <- data <- models <- cli.

An AST walk over every module (including imports inside functions, which the
CLI uses to stay fast) fails if any module imports from a layer above its own.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "plexnet"
LAYERS = ["core", "ledger", "compute", "data", "models", "cli"]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "plexnet" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize(("module", "path"), list(_modules()), ids=lambda v: str(v))
def test_imports_point_down(module, path):
    mine = _layer(module)
    if mine is None:
        return
    for imported in _imports(path):
        theirs = _layer(imported)
        if theirs is not None:
            assert theirs <= mine, (
                f"{module} ({LAYERS[mine]}) imports {imported} ({LAYERS[theirs]}), a layer above")


def test_every_layer_exists():
    assert [p.name for p in sorted(SRC.iterdir()) if (p / "__init__.py").exists()] == sorted(
        LAYERS)


def test_the_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from plexnet.models.mlp import MLP\n")
    assert "plexnet.models.mlp" in list(_imports(bad))
    assert _layer("plexnet.models.mlp") > _layer("plexnet.ledger.log")
