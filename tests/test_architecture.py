"""The house rules, read from the code: floors (import-linter), style (ruff), module size, imports.

The floors and the rules are described in the README ("Layout"); the contracts live in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gmmtheory"
MAX_LINES = 600
# optional heavy packages that may be imported lazily inside a function (they are absent from the core install)
LAZY_ALLOWED = {"torch", "diffusers", "sklearn", "transformers", "matplotlib"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(name: str) -> Path | None:
    """The file of module ``name`` inside the package (None for names outside it or that are not modules)."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_module(name: str) -> bool:
    return _resolve(name) is not None


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    assert found, f"{name} is not installed: it is part of the test extra (pip install -e '.[test]')"
    return found


def test_import_linter_contracts_hold() -> None:
    proc = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ruff_passes() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_at_most_600_lines(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (> {MAX_LINES}): split it by concept"


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, bool]]:
    """Every import statement with whether it sits at module level (outside any function)."""
    found: list[tuple[ast.stmt, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    return [node.module or ""] if node.level == 0 else []


def test_no_gmmtheory_import_inside_a_function_and_no_lazy_import_of_core_packages() -> None:
    bad = []
    for path in _modules():
        for node, top in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if top:
                continue
            for target in _targets(node):
                root = target.split(".")[0]
                if root not in LAZY_ALLOWED:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target} inside a function")
    assert not bad, "\n".join(bad)


def test_the_package_never_imports_its_own_face() -> None:
    """Inside gmmtheory, import the concrete module (``from gmmtheory.mixture import ...``), never ``gmmtheory``."""
    bad = []
    for path in _modules():
        if path == PACKAGE / "__init__.py":
            continue
        for node, _ in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "gmmtheory" for a in node.names):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports gmmtheory")
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "gmmtheory":
                names = [a.name for a in node.names if not _is_module(f"gmmtheory.{a.name}")]
                if names:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} takes {names} from the gmmtheory face")
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_folder() -> None:
    """``from gmmtheory.a.b import _x`` only from a module in the folder of ``gmmtheory/a/b``."""
    bad = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, _ in _imports(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if not node.module.startswith("gmmtheory"):
                continue
            target = _resolve(node.module)
            if target is None:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    if _is_module(f"{node.module}.{alias.name}"):
                        continue  # a private module of a package, imported as a module
                    home = target.parent
                    if path.parent != home:
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.module}.{alias.name}")
    assert not bad, "\n".join(bad)
