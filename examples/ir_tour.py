"""A tour of what graphc does to a training step, stage by stage.

Compiles the seed program's step (MLP 784-128-10, cross-entropy, Adam) and prints: the traced IR,
every pass with its node count and time, what one pass changed (`ir_diff`), the fusion report (why
each kernel boundary exists), the memory plan, snippets of the LLVM IR and the machine code, and
writes the traced graph as Graphviz DOT (render it with `dot -Tsvg train_step.dot -o t.svg`).

    python examples/ir_tour.py                       # the seed step, batch 64
    python examples/ir_tour.py --small               # 784-32-10, batch 16 (the test runs this)
    python examples/ir_tour.py --diff cse --dot out.dot --lines 40
"""
from __future__ import annotations

import argparse
import re

import numpy as np

import graphc
from graphc import nn, optim


class Net(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def heading(title: str) -> None:
    print(f"\n==== {title} " + "=" * max(0, 88 - len(title)))


def snippet(text: str, lines: int, pattern: str = "", width: int = 150) -> str:
    """`lines` lines of `text` from the first line matching `pattern`, long lines cut at `width`."""
    all_lines = text.splitlines()
    start = next((i for i, s in enumerate(all_lines) if re.search(pattern, s)), 0)
    shown = all_lines[start:start + lines]
    more = "\n  ..." if start + lines < len(all_lines) else ""
    return "\n".join(s if len(s) <= width else s[:width - 3] + "..." for s in shown) + more


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--small", action="store_true", help="hidden 32, batch 16")
    ap.add_argument("--lines", type=int, default=12, help="lines to show of each listing")
    ap.add_argument("--diff", default="plan-memory", help="show what this pass changed")
    ap.add_argument("--dot", default="train_step.dot", help="write the traced graph here")
    ap.add_argument("--backend", default="llvm")
    args = ap.parse_args(argv)
    if args.small:
        args.hidden, args.batch_size = 32, 16

    graphc.manual_seed(0)
    net = Net(args.hidden)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend=args.backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size)
    train_step(x, y)      # the first step creates Adam's state (one trace) ...
    train_step(x, y)      # ... every later step runs this second graph, the one we look at

    heading("traced: the step as Python ran it, one line per op, with your source line")
    print(snippet(train_step.ir("traced"), args.lines))

    heading("passes: nodes after each stage (a fused kernel counts as one node)")
    counts, seconds = {}, train_step.pass_seconds
    for stage in train_step.stages:
        counts[stage] = len(graphc.ir.parse(train_step.ir(stage)).nodes)
        ms = f"{1e3 * seconds[stage]:7.2f} ms" if stage in seconds else ""
        print(f"  {stage:16s} {counts[stage]:4d} nodes  {ms}")
    for extra in ("codegen", "llvm-compile"):   # llvm-compile is absent on a compile-cache hit
        if extra in seconds:
            print(f"  {extra:16s}             {1e3 * seconds[extra]:7.2f} ms")

    stages = train_step.stages
    before = stages[stages.index(args.diff) - 1]
    heading(f"ir_diff({before!r}, {args.diff!r}): what {args.diff} changed")
    print(snippet(train_step.ir_diff(before, args.diff), args.lines * 2))

    heading("fusion report: why each kernel boundary exists")
    print(train_step.fusion_report().strip())

    heading("memory plan")
    print(train_step.memory_report())

    if args.backend == "llvm":
        llvm, asm = train_step.ir("llvm"), train_step.ir("asm")
        heading(f"LLVM IR ({len(llvm.splitlines())} lines; {llvm.count('<8 x float>')} uses of "
                "<8 x float>)")
        print(snippet(llvm, 3, r"^define "))
        print(snippet(llvm, args.lines // 2, r"@llvm\.fma\.v\d+f32|fmul .*<\d+ x float>"))
        heading(f"assembly ({len(asm.splitlines())} lines; {asm.count('vfmadd')} vfmadd)")
        print(snippet(asm, args.lines, r"vfmadd|fmla|mulps"))

    with open(args.dot, "w") as f:
        f.write(graphc.ir.to_dot(graphc.ir.parse(train_step.ir("traced"))))
    heading("DOT")
    print(f"traced graph written to {args.dot} ({counts['traced']} ops); render it with "
          f"dot -Tsvg {args.dot} -o {args.dot.removesuffix('.dot')}.svg")
    return {"counts": counts, "dot": args.dot}


if __name__ == "__main__":
    main()
