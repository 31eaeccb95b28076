"""`python -m graphc` (also the `graphc` command): debugging and measuring tools.

    python -m graphc bench [--quick] [--json F] [--plot F.png]   compiled vs interpreter vs others
    python -m graphc bisect SCRIPT.py [ARGS...]   check every compiled function pass by pass
    python -m graphc dump [--out DIR] [--level N] [--dot] SCRIPT.py [ARGS...]
                                                  run SCRIPT with GRAPHC_DUMP, list what it wrote
"""
from __future__ import annotations

import argparse
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import traceback


def _run_script(script: str, args: list[str]) -> None:
    sys.argv = [script] + list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


def cmd_bisect(ns) -> int:
    """Run SCRIPT; on the first call of each compiled function (per signature), run its pass
    pipeline one pass at a time on the real inputs and report the first pass that changes results."""
    if not os.path.isfile(ns.script):
        print(f"graphc bisect: no such script: {ns.script}", file=sys.stderr)
        return 2
    os.environ["GRAPHC_BISECT"] = "1"
    _run_script(ns.script, ns.args)
    return 0


_DUMP_NAME = re.compile(r"^(?P<graph>.+)\.(?P<n>\d+)\.(?P<i>\d+)-(?P<stage>.+)\.ir$")


def cmd_dump(ns) -> int:
    """Run SCRIPT with GRAPHC_DUMP set to a directory; list the IR files each compiled graph wrote
    (one per stage); with --dot also write Graphviz files (and .svg when `dot` is installed)."""
    if not os.path.isfile(ns.script):
        print(f"graphc dump: no such script: {ns.script}", file=sys.stderr)
        return 2
    out = os.path.abspath(ns.out or tempfile.mkdtemp(prefix="graphc-dump-"))
    os.makedirs(out, exist_ok=True)
    before = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)}
    os.environ["GRAPHC_DUMP"] = out
    if ns.level is not None:
        os.environ["GRAPHC_DUMP_LEVEL"] = str(ns.level)
    code = 0
    try:
        _run_script(ns.script, ns.args)
    except SystemExit as e:  # the script's own exit (argparse --help, sys.exit(...))
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:  # noqa: BLE001 - still list what was dumped before the failure
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    if code:
        print(f"[graphc dump] {ns.script} exited with status {code}; listing what it dumped")
    written = sorted(f for f in os.listdir(out) if _DUMP_NAME.match(f)
                     and before.get(f) != os.path.getmtime(os.path.join(out, f)))
    groups: dict[str, list[str]] = {}
    for f in written:
        m = _DUMP_NAME.match(f)
        groups.setdefault(f"{m['graph']}.{m['n']}", []).append(f)
    print(f"[graphc dump] {len(written)} files from {len(groups)} compiled "
          f"graph{'s' * (len(groups) != 1)} in {out}")
    dot_exe = shutil.which("dot") if ns.dot else None
    for key, files in sorted(groups.items(), key=lambda kv: _natural(kv[0])):
        print(f"{key}: {len(files)} stages")
        for f in files:
            path = os.path.join(out, f)
            with open(path) as fh:
                text = fh.read()
            extra = ""
            if ns.dot and text.startswith("graph @"):  # IR text (not a report): draw it
                extra = "  " + _write_dot(path, text, dot_exe)
            print(f"  {f:48s} {text.count(chr(10)):6d} lines{extra}")
    if not written:
        print("no IR was dumped: did the script call a graphc.compile'd function?")
    if ns.dot and dot_exe is None:
        print("Graphviz `dot` is not on PATH: wrote .dot files only (install graphviz to get .svg, "
              "or render with `dot -Tsvg FILE.dot -o FILE.svg` elsewhere)")
    return code


def _natural(key: str):
    name, _, n = key.rpartition(".")
    return (name, int(n))


def _write_dot(ir_path: str, text: str, dot_exe: str | None) -> str:
    """Write IR_PATH's graph as ir_path[:-3].dot (+ .svg with Graphviz); say what was written."""
    from ..errors import GraphcError
    from ..ir import parse, to_dot
    stem = ir_path[:-3]
    try:
        dot_text = to_dot(parse(text))
    except GraphcError as e:
        return f"(no .dot: {e})"
    with open(stem + ".dot", "w") as f:
        f.write(dot_text)
    made = [".dot"]
    if dot_exe:
        r = subprocess.run([dot_exe, "-Tsvg", stem + ".dot", "-o", stem + ".svg"],
                           check=False, capture_output=True, text=True, timeout=120)
        made.append(".svg" if r.returncode == 0 else f"(dot failed: {r.stderr.strip()[:200]})")
    return "+ " + " ".join(made)


def main(argv=None) -> int:
    """Parse `argv` (default: sys.argv) and run the chosen tool; returns the exit status."""
    ap = argparse.ArgumentParser(prog="graphc", description="graphc's command-line tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bisect", help=cmd_bisect.__doc__.split(";")[0])
    b.add_argument("script")
    b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(fn=cmd_bisect)
    d = sub.add_parser("dump", help="run a script with GRAPHC_DUMP and list the IR files it wrote",
                       description=cmd_dump.__doc__)
    d.add_argument("--out", help="directory for the files (default: a new temporary directory)")
    d.add_argument("--level", type=int, help="GRAPHC_DUMP_LEVEL (2 adds the fusion report)")
    d.add_argument("--dot", action="store_true",
                   help="also write a .dot file per IR stage (and .svg when Graphviz is installed)")
    d.add_argument("script")
    d.add_argument("args", nargs=argparse.REMAINDER)
    d.set_defaults(fn=cmd_dump)
    be = sub.add_parser("bench", help="time graphc against the interpreter, NumPy and frameworks")
    be.add_argument("--quick", action="store_true", help="a short run (CI smoke test)")
    be.add_argument("--json", help="write the results to this JSON file")
    be.add_argument("--plot", help="write a bar chart to this PNG file (needs matplotlib)")
    be.add_argument("--only", help="only workload groups whose name contains this (train, infer, int8, deep, sgemm, catsplit, xent, cnn, cnn-eval, seq)")
    be.add_argument("--no-frameworks", action="store_true", help="skip PyTorch/JAX/ONNX Runtime")
    be.set_defaults(fn=lambda ns: __import__("graphc.cli.bench", fromlist=["main"]).main(ns))
    ns = ap.parse_args(argv)
    return ns.fn(ns)


if __name__ == "__main__":
    sys.exit(main())
