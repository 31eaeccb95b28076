"""Hogwild benchmark: samples per second of 2 workers vs 1, seed Net, Adam, batch 64 per worker.

    python scripts/hogwild_bench.py                     # best of 5 runs per configuration
    python scripts/hogwild_bench.py --steps 400 --runs 3 --batch 64

Each run spawns the workers (graphc.multiprocessing.hogwild); every worker compiles its step,
waits at graphc.multiprocessing.barrier(), then times `--steps` steps on random data. The rate of
a run is all samples / the slowest worker's seconds. Configurations: 1 worker with the default
threads (all cores), 1 worker with 1 thread, 2 workers (default: 1 thread each on 2 cores), and
as a control 2 workers on private copies of the weights (what the cores give two processes).
Prints best-of-N and the spread ((median - best) / best).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def worker(net, w, n, steps, batch):
    """Compile, wait for the others, then time `steps` training steps."""
    import hogwild_train as hw

    from graphc.multiprocessing import barrier
    step = hw.make_step(net)
    rng = np.random.default_rng(w)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    step(x, y), step(x, y)
    barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    return {"seconds": time.perf_counter() - t0, "samples": steps * batch,
            "threads": os.environ.get("GRAPHC_NUM_THREADS")}


def worker_private(net, w, n, steps, batch):
    """The control: the same work on private copies of the weights (nothing shared)."""
    for p in net.parameters():
        p._data = p._data.copy()
    return worker(net, w, n, steps, batch)


def measure(n_workers: int, runs: int, steps: int, batch: int, threads: str | None,
            fn=worker) -> dict:
    import hogwild_train as hw

    import graphc
    from graphc.multiprocessing import hogwild
    saved = os.environ.pop("GRAPHC_NUM_THREADS", None)
    if threads:
        os.environ["GRAPHC_NUM_THREADS"] = threads
    rates, used = [], None
    try:
        for _ in range(runs):
            graphc.manual_seed(0)
            stats = hogwild(fn, n_workers, hw.Net(), args=(steps, batch), timeout=600)
            rates.append(sum(s["samples"] for s in stats) / max(s["seconds"] for s in stats))
            used = stats[0]["threads"]
    finally:
        os.environ.pop("GRAPHC_NUM_THREADS", None)
        if saved is not None:
            os.environ["GRAPHC_NUM_THREADS"] = saved
    best, med = max(rates), float(np.median(rates))
    return {"workers": n_workers, "threads": used, "samples_per_s": best,
            "spread": (best - med) / best}


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ns = ap.parse_args(argv)
    rows = [measure(1, ns.runs, ns.steps, ns.batch, None),
            measure(1, ns.runs, ns.steps, ns.batch, "1"),
            measure(2, ns.runs, ns.steps, ns.batch, None),
            measure(2, ns.runs, ns.steps, ns.batch, None, worker_private)]
    rows[3]["control"] = True
    print(f"Hogwild, seed Net 784-128-10, Adam, batch {ns.batch} per worker, {ns.steps} steps "
          f"per worker, best of {ns.runs} runs")
    for r in rows:
        what = " (control: private weights)" if r.get("control") else ""
        print(f"  {r['workers']} worker(s), {r['threads']} thread(s) each{what}: "
              f"{r['samples_per_s']:10,.0f} samples/s  spread {100 * r['spread']:3.0f} %")
    print(f"  2 workers vs 1 worker: {rows[2]['samples_per_s'] / rows[0]['samples_per_s']:.2f}x "
          f"(vs 1 worker on 1 thread: {rows[2]['samples_per_s'] / rows[1]['samples_per_s']:.2f}x; "
          f"shared vs private weights: {rows[2]['samples_per_s'] / rows[3]['samples_per_s']:.2f}x)")
    return rows


if __name__ == "__main__":
    main()
