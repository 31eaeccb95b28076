"""Random graphs through the whole pipeline and the LLVM backend, against the interpreter.

The graphs come from test_passes.fuzz_cases (random ops, broadcasting shapes, reductions,
matmuls, softmax, gradients, NaN/Inf inputs). CI runs a fixed set of examples;
GRAPHC_FUZZ_LONG=1 runs many more. Native results may differ from NumPy's by float32
rounding (FMA contraction, vector accumulation order, libmvec); NaN positions must agree.
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from test_passes import fuzz_cases

from graphc.backend.llvm import compile_graph
from graphc.ir.interpreter import run
from passes.autodiff import autodiff
from passes.manager import DEFAULT_PIPELINE, run_pipeline

LONG = os.environ.get("GRAPHC_FUZZ_LONG") == "1"
NATIVE_FUZZ = settings(max_examples=1000 if LONG else 25, deadline=None,
                       derandomize=not LONG,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.filter_too_much])


def _close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a64.shape == b64.shape, what
    nan_a, nan_b = np.isnan(a64), np.isnan(b64)
    np.testing.assert_array_equal(nan_a, nan_b, err_msg=f"{what}: NaN positions differ")
    inf = np.isinf(a64) | np.isinf(b64)
    np.testing.assert_array_equal(a64[inf], b64[inf], err_msg=f"{what}: infinities differ")
    ok = ~(nan_a | inf)
    scale = np.maximum(np.abs(a64[ok]), np.abs(b64[ok]))
    err = np.abs(a64[ok] - b64[ok])
    assert np.all(err <= 1e-4 + 1e-4 * scale), f"{what}: max error {err.max() if err.size else 0}"


@NATIVE_FUZZ
@given(case=fuzz_cases())
def test_random_graphs_native_equals_interpreter(case):
    g, inputs, state = case
    ref_graph = autodiff(g)
    ref_out, ref_up = run(ref_graph, inputs, {k: np.array(v) for k, v in state.items()})
    planned = run_pipeline(g, DEFAULT_PIPELINE).graph
    exe = compile_graph(planned)
    arrays = {k: np.array(v) for k, v in state.items()}
    outs = exe.run(list(inputs), [arrays[k] for k in planned.state])
    for i, (a, b) in enumerate(zip(outs, ref_out)):
        _close(a, b, f"output {i}")
    for k, v in ref_up.items():
        _close(arrays[k], v, f"update %{k}")


def test_in_place_update_does_not_feed_later_reads_of_the_old_value():
    """Found by this fuzzer: a fused kernel writing w's new value in place must not let a later
    node of the same kernel read the new value where the graph says the old one."""
    from graphc.ir import parse
    g = parse("""graph @f(%x: f32[6]) state(%w: f32[6]) {
  %0: f32[6] = sub %w, %x
  %1: f32[6] = exp %0
  %2: f32[] = constant[value=-2.5]
  %3: f32[6] = add %w, %2
  return %3 updates(%w <- %1)
}
""")
    x = np.linspace(-1, 1, 6).astype(np.float32)
    w = np.linspace(0.5, 2, 6).astype(np.float32)
    (ref,), ups = run(g, [x], {"w": w.copy()})
    planned = run_pipeline(g, DEFAULT_PIPELINE).graph
    assert any(n.op == "fused" for n in planned.nodes)
    arr = w.copy()
    (out,) = compile_graph(planned).run([x], [arr])
    np.testing.assert_allclose(out, ref, rtol=1e-6)   # w + (-2.5) with the OLD w
    np.testing.assert_allclose(arr, ups["w"], rtol=1e-6)
