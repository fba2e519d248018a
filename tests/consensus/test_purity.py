"""`consensus/` stays pure: no I/O, clock, randomness or threads, and no arrows to the drivers.

Scanned with `ast` (imports only, so comments and strings cannot fool it or trip it), over every
module under consensus/, the replica included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import consensus

FORBIDDEN = {"trio", "socket", "time", "random", "os", "lmdb", "threading", "asyncio"}
FORBIDDEN_PACKAGES = {"ledger", "network", "sim"}
ROOT = Path(consensus.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.add("__import__")
    return found


def violations(path: Path) -> list[str]:
    bad = []
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top in FORBIDDEN or top in FORBIDDEN_PACKAGES or module == "__import__":
            bad.append(module)
    return sorted(bad)


def test_consensus_imports_nothing_impure() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) >= 10 and any("replica" in f.parts for f in files)
    found = {str(f.relative_to(ROOT)): violations(f) for f in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_scanner_catches_each_forbidden_import(tmp_path: Path) -> None:
    cases = [
        "import time",
        "import os.path",
        "from random import choice",
        "import trio as t",
        "from ledger.app import LedgerApp",
        "from network import peers",
        "import sim.clock",
        "from socket import socket",
        "import lmdb",
        "__import__('time')",
    ]
    for source in cases:
        path = tmp_path / "m.py"
        path.write_text(f"def f():\n    {source}\n")
        assert violations(path), source
    path = tmp_path / "ok.py"
    path.write_text("import attrs\nfrom consensus.messages import Vote\n# import time\n")
    assert violations(path) == []
