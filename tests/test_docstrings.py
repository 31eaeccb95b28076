"""Every public function, method and class of the user-facing modules has a docstring.

Public: a def or class defined directly in a module or a class body, whose name does not start
with "_" (nested helpers inside functions are exempt). A new undocumented one fails here with its
file:line:name.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCOPE = [
    "graphc/*.py", "graphc/driver/*.py", "graphc/cli/*.py", "graphc/nn/*.py", "graphc/optim/*.py",
    "graphc/ir/*.py", "graphc/ir/ops/*.py", "passes/*.py", "graphc/backend/llvm/*.py",
]

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def undocumented(source: str, filename: str = "<string>") -> list[str]:
    """`file:line:name` of each public module- or class-level def/class without a docstring."""
    out = []

    def visit(parent: ast.AST) -> None:
        for node in ast.iter_child_nodes(parent):
            if not isinstance(node, DEFS):
                continue
            if not node.name.startswith("_") and not (ast.get_docstring(node) or "").strip():
                out.append(f"{filename}:{node.lineno}:{node.name}")
            if isinstance(node, ast.ClassDef):  # methods count; functions nested in defs don't
                visit(node)

    visit(ast.parse(source, filename))
    return out


def scope_files() -> list[Path]:
    """The files SCOPE names; a pattern matching nothing is an error (a moved file is noticed)."""
    files = []
    for pattern in SCOPE:
        matched = sorted(ROOT.glob(pattern))
        assert matched, f"{pattern} matches no file: update SCOPE in {Path(__file__).name}"
        files += matched
    return files


def test_public_definitions_have_docstrings():
    missing = [m for f in scope_files()
               for m in undocumented(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert not missing, (f"{len(missing)} public definition(s) without a docstring (add a "
                         "one-line docstring, one line saying what it does):\n  " + "\n  ".join(missing))


CHECKED = '''
def documented():
    """Yes."""

def bare(x): return x

def _private(): pass

class Thing:
    """Yes."""

    def method(self): pass

    @property
    def prop(self):
        """Yes."""

    def _helper(self): pass

    class Inner:
        def deep(self): pass

class Bare:
    def ok(self):
        """Yes."""
        def nested(): pass

def empty():
    """ """
'''


@pytest.mark.parametrize("name, flagged", [
    ("documented", False), ("bare", True), ("_private", False), ("Thing", False),
    ("method", True), ("prop", False), ("_helper", False), ("Inner", True), ("deep", True),
    ("Bare", True), ("ok", False), ("nested", False), ("empty", True),
])
def test_checker_flags_exactly_the_undocumented_public_names(name, flagged):
    found = {m.rsplit(":", 1)[1] for m in undocumented(CHECKED)}
    assert (name in found) == flagged, sorted(found)


def test_checker_reports_file_and_line():
    assert undocumented("x = 1\n\ndef f():\n    pass\n", "pkg/mod.py") == ["pkg/mod.py:3:f"]
