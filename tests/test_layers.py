"""The import layering: every import (function-level ones included) points down the stack.

Layers, bottom up:
    leaves     graphc.dtypes, graphc.errors, graphc.config
    ir         graphc.ir (types, graph, op registry, printer, parser, verifier, interpreter)
    mpi        graphc.mpi (the process's MPI runtime)
    passes     passes.*            (graph -> graph; no backend, no MPI state, no frontend)
    backend    graphc.backend.*    (needs a planned graph; no passes)
    the rest   the torch-named API, the compile driver (graphc.driver), the CLI (graphc.cli)
The library never imports the CLI (the benchmark harness lives there), and no two modules
import each other, directly or through others.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
LEAVES = ("graphc.dtypes", "graphc.errors", "graphc.config")
# module prefix -> the prefixes it may import (besides the leaves and itself)
ALLOWED = {
    "graphc.ir": ("graphc.ir",),
    "graphc.mpi": (),
    "passes": ("passes", "graphc.ir"),
    "graphc.backend": ("graphc.backend", "graphc.ir", "graphc.mpi"),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path) -> dict[str, Path]:
    files = [p for top in ("graphc", "passes") for p in (root / top).rglob("*.py")]
    return {_module_name(p, root): p for p in files}


def _resolve(name: str, mods) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, root: Path, mods) -> dict[str, int]:
    """Project modules `path` imports (target -> first line), function-level imports included."""
    me = _module_name(path, root)
    pkg = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                     for a in node.names]
        else:
            continue
        for n in names:
            t = _resolve(n, mods)
            if t and t != me:
                out.setdefault(t, node.lineno)
    return out


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def layering_problems(root: Path) -> list[str]:
    """One line per import that reaches up the stack or into the CLI, and per import circle."""
    mods = _modules(root)
    graph = {m: imports(p, root, mods) for m, p in mods.items()}
    problems = []
    for m, targets in sorted(graph.items()):
        rule = next((ALLOWED[k] for k in sorted(ALLOWED, key=len, reverse=True)
                     if _under(m, k)), None)
        for t, line in sorted(targets.items()):
            if _under(t, "graphc.cli") and not _under(m, "graphc.cli") and m != "graphc.__main__":
                problems.append(f"{mods[m].relative_to(root)}:{line} imports the CLI ({t})")
            if rule is None or t in LEAVES:
                continue
            if not any(_under(t, a) for a in rule):
                problems.append(f"{mods[m].relative_to(root)}:{line} imports {t} (upward)")
    g = nx.DiGraph((m, t) for m, ts in graph.items() for t in ts)
    for comp in nx.strongly_connected_components(g):
        # a package's __init__ re-exporting its own children is not a circle
        comp = {c for c in comp if not any(o != c and _under(o, c) for o in comp)}
        if len(comp) > 1:
            problems.append("import circle: " + " <-> ".join(sorted(comp)))
    return problems


def test_no_import_reaches_up_the_stack_or_goes_round_in_a_circle():
    problems = layering_problems(ROOT)
    assert not problems, "layering broken:\n  " + "\n  ".join(problems)


def test_the_layering_check_catches_upward_imports_and_circles(tmp_path):
    # a miniature tree with one upward import (ir -> passes) and one circle (a <-> b)
    files = {
        "graphc/__init__.py": "", "graphc/errors.py": "",
        "graphc/ir/__init__.py": "", "graphc/ir/graph.py": "def f():\n    import passes.fuse\n",
        "graphc/a.py": "from . import b\n", "graphc/b.py": "from .a import x\n",
        "graphc/tool.py": "from .cli import bench\n", "graphc/cli/__init__.py": "",
        "graphc/cli/bench.py": "", "passes/__init__.py": "",
        "passes/fuse.py": "from graphc import ir\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    problems = layering_problems(tmp_path)
    assert any("graphc/ir/graph.py:2 imports passes.fuse (upward)" in p for p in problems)
    assert any(p == "import circle: graphc.a <-> graphc.b" for p in problems)
    assert any("imports the CLI" in p for p in problems)
    assert len(problems) == 3, problems
