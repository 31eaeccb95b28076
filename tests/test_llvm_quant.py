"""The LLVM backend on quantized models and thread invariance of native results.

The interpreter is the oracle (it matches torch's quantize_dynamic to 0 ulp, see
test_quantization.py); native int8 results must equal it bit for bit, and native results must
be the same bits with 1 and 2 threads.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.quantization import quantize_dynamic


class Net(nn.Module):
    def __init__(self, n_in=784, hidden=128, n_out=10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def _inputs(kind, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "relu":
        x = np.maximum(x, 0)
    elif kind == "large":
        x *= 3e4
    elif kind == "outlier":
        x.reshape(-1)[0] = 500.0
    elif kind == "zeros":
        x[...] = 0
    elif kind == "tiny":
        x *= 1e-30
    return x


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("sizes", [(784, 128, 10), (37, 13, 5)])
def test_native_int8_equals_interpreter_bit_for_bit(per_channel, sizes):
    graphc.manual_seed(1)
    q = quantize_dynamic(Net(*sizes), {nn.Linear}, dtype=graphc.qint8, per_channel=per_channel)
    native, interp = graphc.compile(q, backend="llvm"), graphc.compile(q, backend="interpreter")
    rng = np.random.default_rng(0)
    for batch in (1, 3, 16, 64, 257):
        for kind in ("randn", "relu", "large", "outlier", "zeros", "tiny"):
            x = _inputs(kind, (batch, sizes[0]), rng)
            a, b = native(x), interp(x)
            assert a.dtype == np.float32 and a.shape == (batch, sizes[-1])
            np.testing.assert_array_equal(a, b, err_msg=f"batch {batch}, {kind}")


def test_native_int8_3d_input_and_empty_batch():
    graphc.manual_seed(2)
    q = quantize_dynamic(Net(37, 13, 5), {nn.Linear}, dtype=graphc.qint8)
    native, interp = graphc.compile(q, backend="llvm"), graphc.compile(q, backend="interpreter")
    x = np.random.default_rng(1).standard_normal((2, 3, 37)).astype(np.float32)
    np.testing.assert_array_equal(native(x), interp(x))
    empty = np.zeros((0, 37), np.float32)
    assert native(empty).shape == (0, 5)


def test_native_int8_nan_input_falls_back_to_fp32_rows():
    graphc.manual_seed(3)
    net = Net()
    q = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    x = np.random.default_rng(2).standard_normal((8, 784)).astype(np.float32)
    x[3, 5] = np.nan
    x[6, 0] = np.inf
    y = graphc.compile(q, backend="llvm")(x)
    ref = graphc.compile(net, backend="interpreter")(x)   # the fp32 model
    assert np.isnan(y[3]).all() and np.isnan(ref[3]).all()
    finite = [i for i in range(8) if i not in (3, 6)]
    np.testing.assert_allclose(y[finite], ref[finite], rtol=1e-5, atol=1e-5)


def test_native_int8_is_faster_path_is_used():
    """The native IR holds the int8 kernel (pmaddubsw on AVX2 hosts), not an fp32 fallback."""
    from graphc.backend.llvm import target
    q = quantize_dynamic(Net(), {nn.Linear}, dtype=graphc.qint8)
    c = graphc.compile(q, backend="llvm")
    c(np.ones((4, 784), np.float32))
    text = c.ir("llvm")
    assert "qlinear" in c.ir()
    if target.host()["avx2"]:
        assert "pmadd.ub.sw" in text


_THREADS_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, graphc
    from graphc import nn, optim
    from graphc.quantization import quantize_dynamic
    graphc.manual_seed(0)
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256); self.fc2 = nn.Linear(256, 10)
        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))
    net = Net()
    crit, opt = nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-3)
    @graphc.compile
    def step(x, y):
        opt.zero_grad(); loss = crit(net(x), y); loss.backward(); opt.step(); return loss
    rng = np.random.default_rng(0)
    for _ in range(3):
        step(rng.standard_normal((256, 784)).astype(np.float32), rng.integers(0, 10, 256))
    q = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    y8 = graphc.compile(q)(rng.standard_normal((1024, 784)).astype(np.float32))
    y32 = graphc.compile(net)(rng.standard_normal((1024, 784)).astype(np.float32))
    np.savez(sys.argv[1], w=net.fc1.weight.data, y8=y8, y32=y32)
""")


def test_results_are_identical_with_one_and_two_threads(tmp_path):
    script = tmp_path / "threads.py"
    script.write_text(_THREADS_SCRIPT)
    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=n, GRAPHC_BACKEND="llvm",
                   GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
        out = tmp_path / f"out{n}.npz"
        subprocess.run([sys.executable, str(script), str(out)], check=True, env=env, timeout=300)
        outs.append(np.load(out))
    for key in ("w", "y8", "y32"):
        np.testing.assert_array_equal(outs[0][key], outs[1][key], err_msg=key)


@pytest.mark.parametrize("vnni", ["0", "1"])
def test_both_int8_instruction_paths_are_bit_exact(monkeypatch, vnni):
    """AVX2's pmaddubsw+pmaddwd path and, where the CPU has it, AVX-512 VNNI's vpdpbusd path."""
    monkeypatch.setenv("GRAPHC_INT8_VNNI", vnni)
    graphc.manual_seed(7)
    q = quantize_dynamic(Net(), {nn.Linear}, dtype=graphc.qint8, per_channel=vnni == "1")
    native, interp = graphc.compile(q, backend="llvm"), graphc.compile(q, backend="interpreter")
    rng = np.random.default_rng(3)
    for batch in (1, 17, 200):
        x = _inputs("randn", (batch, 784), rng)
        np.testing.assert_array_equal(native(x), interp(x))


def test_replaced_parameter_arrays_are_seen_by_every_thread():
    """State pointers are cached per thread; replacing a parameter's array must refresh them."""
    import threading
    graphc.manual_seed(11)
    net = Net(37, 13, 5)
    c = graphc.compile(net, backend="llvm")
    x = np.random.default_rng(0).standard_normal((4, 37)).astype(np.float32)
    c(x)
    results = []
    t = threading.Thread(target=lambda: results.append(c(x)))
    t.start()
    t.join()
    new = np.random.default_rng(1).standard_normal((13, 37)).astype(np.float32)
    net.fc1.weight._data = new                    # a new array object, same shape and dtype
    ref = graphc.compile(net, backend="interpreter")(x)
    np.testing.assert_allclose(c(x), ref, rtol=1e-5, atol=1e-6)
    t = threading.Thread(target=lambda: results.append(c(x)))
    t.start()
    t.join()
    np.testing.assert_allclose(results[-1], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vnni", ["0", "1"])
@pytest.mark.parametrize("k, n", [(3, 8), (4, 1), (64, 33), (130, 40), (37, 64), (200, 17)])
def test_packed_broadcast_form_is_bit_exact_for_odd_sizes(monkeypatch, vnni, k, n):
    """Batches >= PACK_MIN_M use packed weight panels (8 columns x 4 k): K not a multiple of
    4 or 32, N not a multiple of 8 or 32 (a partial last panel), per-tensor and per-channel."""
    from graphc.backend.llvm.kernels.qlinear import PACK_MIN_M
    monkeypatch.setenv("GRAPHC_INT8_VNNI", vnni)
    graphc.manual_seed(k * 100 + n)
    for per_channel in (False, True):
        q = quantize_dynamic(nn.Sequential(nn.Linear(k, n), nn.ReLU(), nn.Linear(n, 3)),
                             {nn.Linear}, dtype=graphc.qint8, per_channel=per_channel)
        native = graphc.compile(q, backend="llvm")
        interp = graphc.compile(q, backend="interpreter")
        rng = np.random.default_rng(k + n)
        for batch in (PACK_MIN_M, PACK_MIN_M + 7, 3 * PACK_MIN_M + 1):
            x = _inputs("randn", (batch, k), rng)
            np.testing.assert_array_equal(native(x), interp(x), err_msg=f"batch {batch}")
