"""The dependency direction of docs/architecture.md holds for every import in the package."""

import ast
from pathlib import Path

import pytest

import palaestra

PACKAGE = Path(palaestra.__file__).parent

#: Rank of each top-level part: a module may import only parts of lower rank (or its own).
RANKS: dict[str, float] = {
    "errors": 0,
    "optional": 1,
    "paths": 1,
    "progress": 1,
    "plots": 2,
    "processes": 2,
    "sandbox": 3,
    "envs": 4,
    "rollout": 5,
    "reporting": 5.5,
    "llm": 6,
    "distributed": 6.5,
    "agents": 7,
    "baselines": 8,
    "algorithms": 8,
    "leaderboard": 8,
    "integrations": 8,
    "testing": 8,
    "demo": 10,
    "cli": 11,
}


def part_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "palaestra":
                # `from palaestra import __version__` names no part.
                names = [f"palaestra.{a.name}" for a in node.names if not a.name.startswith("_")]
        parts.update(n.split(".")[1] for n in names if n.startswith("palaestra."))
    return parts


MODULES = sorted(
    p for p in PACKAGE.rglob("*.py") if part_of(p) not in {"__init__", "__main__", "_moved"}
)


def test_every_part_has_a_rank() -> None:
    assert {part_of(p) for p in MODULES} <= set(RANKS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down(path: Path) -> None:
    own = part_of(path)
    upward = {part for part in imported_parts(path) - {own} if RANKS.get(part, 99) >= RANKS[own]}
    assert not upward, f"{own} must not import {sorted(upward)} (see docs/architecture.md)"


def test_the_scan_sees_every_spelling_of_an_import(tmp_path: Path) -> None:
    # The checks above would pass on a scan that saw nothing.
    module = tmp_path / "m.py"
    module.write_text(
        "import palaestra.cli\nfrom palaestra import leaderboard, __version__\n"
        "from palaestra.llm.hf_agent import HFAgent\nfrom . import sibling\n"
        "def f():\n    from palaestra.algorithms.trainer import Trainer\n"
        "if TYPE_CHECKING:\n    from palaestra.demo import Entry\n"
    )
    assert imported_parts(module) == {"cli", "leaderboard", "llm", "algorithms"}
