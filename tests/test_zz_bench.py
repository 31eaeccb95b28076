# Runs last (file name): after its cross-entropy test, an LLVM link in a later test in the same
# process aborted (llvmlite orcjit link, seen 2026-12-04 with torch + jax loaded; cause open).
"""Smoke tests of `python -m graphc bench` (timings are printed, never asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.cli.bench as bench


def test_bench_quick_inference_table_and_ratios():
    report = bench.run(quick=True, frameworks=False, only="infer")
    names = {(r.workload, r.contender) for r in report.results}
    assert ("infer fp32 784-128-10 b1", "graphc llvm") in names
    assert ("infer fp32 784-128-10 b64", "numpy (hand-written)") in names
    for r in report.results:
        assert r.best_us is not None and r.best_us > 0 and r.median_us >= r.best_us
    text = bench.table(report)
    assert "vs graphc llvm" in text and "1.00x" in text and "machine:" in text


def test_bench_cli_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "graphc", "bench", "--quick", "--no-frameworks",
                           "--only", "sgemm", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1
    contenders = {r["contender"] for r in data["results"] if r["workload"] == "sgemm 256"}
    assert {"graphc llvm", "graphc interpreter", "numpy (OpenBLAS)"} <= contenders
    assert "sgemm 256" in proc.stdout


# ---- issue 17's rows: cat + split and cross_entropy(ignore_index=) train steps -----------------
# Correctness of what the rows run (never their timings): every contender starts from the same
# weights and must compute the same losses; cheap sizes of the same programs.

def _run_steps(contenders, steps=2):
    out = {}
    for name, fn in contenders.items():
        if fn is None:
            continue
        vals = []
        for _ in range(steps):
            v = fn()
            v = v.detach().numpy() if hasattr(v, "detach") else v
            vals.append(float(np.asarray(v)))
        out[name] = vals
    return out


def _xent_numpy(init, x, y):
    """The first step's loss of LMHead from its initial weights, in NumPy (torch's masked mean)."""
    h = np.maximum(x @ init["fc.weight"].T + init["fc.bias"], 0)
    z = h @ init["head.weight"].T + init["head.bias"]
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    keep = y != -100
    return -logp[keep, y[keep]].mean()


def test_xent_rows_contenders_agree_and_mask_ignored_targets():
    for vocab in (65, 2000):   # the bench's V=50000 row runs the same program
        x, y = bench.lm_data(48, 16, vocab)
        assert (y == -100).any() and (y >= 0).any()
        cs = bench.xent_contenders(vocab, 48, 16)
        graphc.manual_seed(0)
        init = {k: np.array(v.numpy()) for k, v in bench.LMHead(16, vocab).state_dict().items()}
        got = _run_steps(cs)
        assert {"graphc llvm", "graphc interpreter"} <= set(got)
        want = got.get("pytorch eager", got["graphc interpreter"])
        assert want[0] == pytest.approx(_xent_numpy(init, x, y), rel=1e-5)
        for name, vals in got.items():
            np.testing.assert_allclose(vals, want, rtol=2e-5, err_msg=name)
        assert want[1] < want[0]   # the Adam step trained


def test_catsplit_row_contenders_agree():
    got = _run_steps(bench.catsplit_contenders(batch=8))
    want = got.get("pytorch eager", got["graphc interpreter"])
    for name, vals in got.items():
        np.testing.assert_allclose(vals, want, rtol=2e-5, err_msg=name)
    assert want[1] < want[0]


def test_catsplit_model_really_splits_and_concatenates():
    graphc.manual_seed(0)
    net = bench.SplitNet()
    x = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    h = np.maximum(x @ net.fc1.weight.numpy().T + net.fc1.bias.numpy(), 0)
    a = np.maximum(h[:, :128] @ net.fa.weight.numpy().T + net.fa.bias.numpy(), 0)
    b = np.tanh(h[:, 128:] @ net.fb.weight.numpy().T + net.fb.bias.numpy())
    want = np.concatenate([a, b], 1) @ net.fc2.weight.numpy().T + net.fc2.bias.numpy()
    np.testing.assert_allclose(net(graphc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    traced = graphc.compile(net, backend="interpreter")
    traced(x)
    ops = {n.op for n in traced.graph.nodes} | {m.op for n in traced.graph.nodes
                                                if n.op == "fused" for m in n.attrs["body"].nodes}
    assert {"slice", "concat"} <= ops   # split = slices, cat = one concat


def test_new_rows_without_jax_or_torch_are_reported_not_dropped(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)      # `import jax` raises ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    cs = bench.xent_contenders(65, 16, 8, interpreter=False)
    assert cs["jax jit"] is None and cs["pytorch eager"] is None
    report = bench.Report({})
    bench.bench_steps(report, "train xent V65 ignore", cs, repeat=1)
    notes = {r.contender: r.note for r in report.results}
    assert notes["jax jit"] == notes["pytorch eager"] == "not installed"
    assert report.results[0].contender == "graphc llvm" and report.results[0].best_us > 0


# ---- issue 18's rows: CNN train steps and inference --------------------------------------------
# The same model classes built with graphc and with torch, from the same weights: every contender's
# losses (dropout off) and outputs agree; small batches of the same programs.

@pytest.mark.parametrize("kind", bench.bench_cnn.MODELS)
def test_cnn_train_rows_contenders_agree(kind):
    got = _run_steps(bench.bench_cnn.train_contenders(kind, batch=3, dropout=False,
                                                      torch_compile=False))
    assert {"graphc llvm", "graphc interpreter"} <= set(got)
    want = got.get("pytorch eager", got["graphc interpreter"])
    for name, vals in got.items():
        np.testing.assert_allclose(vals, want, rtol=1e-4, err_msg=name)
    assert want[1] < want[0]


def test_cnn_inference_rows_contenders_agree():
    cs = bench.bench_cnn.infer_contenders("mnist", 2, torch_compile=False)
    outs = {k: np.asarray(f().detach().numpy() if hasattr(f(), "detach") else f())
            for k, f in cs.items() if f is not None}
    want = outs.get("pytorch eager", outs["graphc interpreter"])
    assert want.shape == (2, 10)
    for name, out in outs.items():
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5, err_msg=name)


# ---- issue 19's rows: a character GPT and an LSTM classifier -----------------------------------

@pytest.mark.parametrize("kind", bench.bench_seq.MODELS)
def test_seq_train_rows_contenders_agree(kind):
    got = _run_steps(bench.bench_seq.train_contenders(kind, batch=3, seq=6, layers=1,
                                                      torch_compile=False))
    assert {"graphc llvm", "graphc interpreter"} <= set(got)
    want = got.get("pytorch eager", got["graphc interpreter"])
    for name, vals in got.items():
        np.testing.assert_allclose(vals, want, rtol=1e-4, err_msg=name)
    assert want[-1] < want[0]


# ---- issue 20's rows: QAT training and static int8 inference of the MNIST CNN ----------------

def test_qat_train_rows_contenders_agree():
    pytest.importorskip("torch")
    got = {k: float(f()) for k, f in bench.bench_quant.train_contenders().items()}
    assert set(got) == {"graphc llvm", "graphc llvm fp32", "pytorch eager", "pytorch eager fp32"}
    assert got["graphc llvm"] == pytest.approx(got["pytorch eager"], rel=1e-5)
    assert got["graphc llvm fp32"] == pytest.approx(got["pytorch eager fp32"], rel=1e-5)


def test_static_int8_rows_contenders_agree():
    pytest.importorskip("torch")
    cs = bench.bench_quant.infer_contenders(2)
    outs = {k: np.asarray(f().numpy() if hasattr(f(), "numpy") else f())
            for k, f in cs.items() if f is not None}
    want = outs["pytorch int8"]
    for name, out in outs.items():   # calibration sees float outputs of other rounding, so the
        np.testing.assert_allclose(out, want, atol=0.05, err_msg=name)   # scales differ by ulps
    assert (outs["graphc llvm"].argmax(1) == want.argmax(1)).all()
