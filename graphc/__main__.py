"""`python -m graphc` (also the `graphc` command): debugging and measuring tools.

    python -m graphc bench [--quick] [--json F] [--plot F.png]   compiled vs interpreter vs others
    python -m graphc bisect SCRIPT.py [ARGS...]   check every compiled function pass by pass
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys


def _run_script(script: str, args: list[str]) -> None:
    sys.argv = [script] + list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


def cmd_bisect(ns) -> int:
    """Run SCRIPT; on the first call of each compiled function (per signature), run its pass
    pipeline one pass at a time on the real inputs and report the first pass that changes results."""
    os.environ["GRAPHC_BISECT"] = "1"
    _run_script(ns.script, ns.args)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="graphc", description="graphc's command-line tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bisect", help=cmd_bisect.__doc__.split(";")[0])
    b.add_argument("script")
    b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(fn=cmd_bisect)
    be = sub.add_parser("bench", help="time graphc against the interpreter, NumPy and frameworks")
    be.add_argument("--quick", action="store_true", help="a short run (CI smoke test)")
    be.add_argument("--json", help="write the results to this JSON file")
    be.add_argument("--plot", help="write a bar chart to this PNG file (needs matplotlib)")
    be.add_argument("--only", help="only workloads whose group contains this (train, infer, ...)")
    be.add_argument("--no-frameworks", action="store_true", help="skip PyTorch/JAX/ONNX Runtime")
    be.set_defaults(fn=lambda ns: __import__("graphc.bench", fromlist=["main"]).main(ns))
    ns = ap.parse_args(argv)
    return ns.fn(ns)


if __name__ == "__main__":
    sys.exit(main())
