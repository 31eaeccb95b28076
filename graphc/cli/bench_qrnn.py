"""Dynamic int8 LSTM inference: graphc compiled vs PyTorch's quantize_dynamic, fp32 of both beside.

The workload of issue 19's int8 target: LSTM(64, 128) over 50 steps at batch 32, inference only
(output sequence and final states). The same fp32 weights (torch's initialisation, copied into
graphc's nn.LSTM) feed four contenders:

- `graphc int8`: graphc.compile of quantize_dynamic(model) (LLVM, the qlinear kernel per step),
- `torch int8`: torch.ao.quantization.quantize_dynamic of the torch model (fbgemm),
- `graphc fp32` and `torch fp32`: the float models (graphc compiled, torch eager, no_grad).

torch runs with as many threads as graphc's pool (GRAPHC_NUM_THREADS, default the CPU count).

`rows()` returns the timings (best and median of `repeat` rounds, µs per call) and graphc's
compile time; `python -m graphc.cli.bench_qrnn` prints them. The lead may hook `rows` into
`python -m graphc bench`. It also checks that graphc's int8 output is within the documented
distance of torch's (`max_abs_vs_torch`).
"""
from __future__ import annotations

import gc
import statistics
import time
import warnings

import numpy as np

import graphc

SIZES = {"input": 64, "hidden": 128, "steps": 50, "batch": 32}


def contenders(seed: int = 0, kind: str = "LSTM", **sizes) -> tuple[dict, np.ndarray, float]:
    """({name: zero-argument callable}, the input, graphc int8 compile seconds); kind LSTM/GRU."""
    import torch
    from torch.ao.quantization import quantize_dynamic as torch_qd

    from graphc.backend.llvm import pool
    torch.set_num_threads(pool.num_threads())   # the same cores for both (GRAPHC_NUM_THREADS)
    s = dict(SIZES, **sizes)
    torch.manual_seed(seed)
    tm = getattr(torch.nn, kind)(s["input"], s["hidden"]).eval()
    gm = getattr(graphc.nn, kind)(s["input"], s["hidden"])
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    gm.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq = torch_qd(torch.nn.Sequential(tm), {type(tm)}, dtype=torch.qint8)[0]
    gq = graphc.quantization.quantize_dynamic(graphc.nn.Sequential(gm), {type(gm)})[0]
    x = np.random.default_rng(seed).standard_normal(
        (s["steps"], s["batch"], s["input"])).astype(np.float32)
    xt = torch.from_numpy(x)
    t0 = time.perf_counter()
    g8 = graphc.compile(gq, backend="llvm")
    g8(x)
    compile_s = time.perf_counter() - t0
    g32 = graphc.compile(gm, backend="llvm")

    def torch_call(m):
        def call():
            with torch.no_grad():
                return m(xt)
        return call
    return ({"graphc int8": lambda: g8(x), "torch int8": torch_call(tq),
             "graphc fp32": lambda: g32(x), "torch fp32": torch_call(tm)}, x, compile_s)


def _outputs(out) -> np.ndarray:
    """A contender's (output, h_n) or (output, (h_n, c_n)) as one float vector."""
    if isinstance(out, (tuple, list)):
        return np.concatenate([_outputs(t) for t in out])
    return np.asarray(out.numpy() if hasattr(out, "numpy") else out, np.float32).reshape(-1)


def interleaved(fns: dict, repeat: int, budget: float = 0.2) -> dict:
    """{name: (best_us, median_us)} over `repeat` rounds; every round times each contender in
    turn (calls per round sized to `budget` seconds), so a busy spell on a shared machine hits
    all of them instead of one."""
    number = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    per = {name: [] for name in fns}
    gc.disable()
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                time.sleep(0.02)     # let another contender's spinning pool threads settle
                t0 = time.perf_counter()
                for _ in range(number[name]):
                    fn()
                per[name].append((time.perf_counter() - t0) / number[name] * 1e6)
    finally:
        gc.enable()
    return {name: (min(v), statistics.median(v)) for name, v in per.items()}


def rows(repeat: int = 5, kind: str = "LSTM", **sizes) -> dict:
    """{"times": {name: (best_us, median_us)}, "compile_s", "max_abs_vs_torch", "speedup"}."""
    fns, _, compile_s = contenders(kind=kind, **sizes)
    flat = [_outputs(fns["graphc int8"]()), _outputs(fns["torch int8"]())]
    times = interleaved(fns, repeat)
    return {"times": times, "compile_s": compile_s,
            "max_abs_vs_torch": float(np.abs(flat[0] - flat[1]).max()),
            "speedup": times["torch int8"][0] / times["graphc int8"][0]}


def main(kind: str = "LSTM") -> int:
    """Print the table (best of 5)."""
    from graphc.backend.llvm import pool
    r = rows(kind=kind)
    s = SIZES
    print(f"{kind}({s['input']}, {s['hidden']}) inference, {s['steps']} steps, batch {s['batch']},"
          f" {pool.num_threads()} thread(s) (best / median of 5 interleaved rounds, µs per call)")
    for name, (best, med) in r["times"].items():
        print(f"  {name:<12} {best:10.0f} {med:10.0f}")
    print(f"graphc int8 vs torch int8: {r['speedup']:.2f}x faster; compile {r['compile_s']:.2f} s;"
          f" max |graphc - torch| = {r['max_abs_vs_torch']:.3g}")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(*sys.argv[1:2]))
