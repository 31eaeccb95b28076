"""graphc.multiprocessing: Hogwild training, worker processes updating shared parameters lock-free.

    def train(net, worker, n_workers, x, y):      # runs in each worker process (spawned)
        optimizer = optim.SGD(net.parameters(), lr=0.05)   # per worker, as in PyTorch's Hogwild
        step = graphc.compile(make_step(net, optimizer))   # its own compiled step
        for xb, yb in shard_loader((x, y), 64, worker, n_workers):
            step(xb, yb)                           # writes straight into the shared weights
        return "done"

    results = graphc.multiprocessing.hogwild(train, 2, net, args=(x, y))

A worker may call `graphc.multiprocessing.barrier()` (after its first, compiling step) so that
all of them train at the same time rather than one after the other.

`hogwild` moves the model's parameters into one `multiprocessing.shared_memory` segment, starts
`n_workers` processes with the spawn start method, and gives each a copy of the model whose
parameters are views of that segment. Each worker compiles and runs its own step on its own
shard; the native step updates the shared arrays in place without any lock (Hogwild!, Niu et
al. 2011). Gradients, optimizer state and the compiled code are per worker.

Results differ from run to run by design: the workers' reads and writes of the weights
interleave as the OS schedules them. Use graphc.distributed (MPI, synchronous) for reproducible
data-parallel training.

When it returns (or fails), the model owns private arrays again holding the trained weights and
the segment is unlinked. A worker that raises stops the others; the error names it and carries
its traceback.

torch.multiprocessing's way works too (pytorch/examples' mnist_hogwild runs with the import
swapped): `set_start_method`, `get_start_method`, `Process`, `Queue`, `cpu_count`, `spawn`, ...
are Python's multiprocessing (plus `spawn`, as torch's), and `model.share_memory()` moves the
parameters into shared memory so that a `Process(target=train, args=(model,))` child trains the
parent's one copy (graphc.sharing registers the pickling that sends the segment, not the bytes).
Each child uses every core by default: with N training processes on C cores set
GRAPHC_NUM_THREADS=C//N (hogwild() does this for its workers).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import time
import traceback
from collections.abc import Callable
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from . import config
from .errors import GraphcError
from .mpi import default_threads
from .sharing import attach as _attach, layout as _layout, views as _views

# torch.multiprocessing's names: Python's own (with graphc's shared-memory pickling registered)
from multiprocessing import (Array, Barrier, Event, Lock, Manager, Pipe, Pool,  # noqa: F401,E402
                             Process, Queue, SimpleQueue, Value, active_children, cpu_count,
                             current_process, get_all_start_methods, get_context,
                             get_start_method, set_start_method)


def _params(model) -> list:
    return [p for _, p in model.named_parameters()]


_worker: dict[str, Any] = {}


def barrier(timeout: float | None = 300) -> None:
    """Inside a hogwild worker: wait until every worker gets here (e.g. after compiling, so
    that they train at the same time). Outside a worker it returns at once."""
    if "barrier" in _worker:
        _worker["barrier"].wait(timeout)


def _worker_main(fn, worker, n_workers, model_bytes, shm_name, size, layout, args, results,
                 start):
    _worker["barrier"] = start
    try:
        if not config.num_threads_set():  # the cores are split between the workers
            config.set_num_threads(default_threads(n_workers))
        model = pickle.loads(model_bytes)
        buf = _attach(shm_name, size)
        for p, view in zip(_params(model), _views(buf, layout)):
            p._data = view       # the shared weights themselves, not a copy
        out = fn(model, worker, n_workers, *args)
        results.put((worker, True, out))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which stops the rest
        results.put((worker, False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def hogwild(fn: Callable[..., Any], n_workers: int, model, args: tuple = (),
            timeout: float | None = None) -> list[Any]:
    """Run `fn(model, worker, n_workers, *args)` in `n_workers` spawned processes sharing the
    model's parameters through shared memory, lock-free; returns each worker's result in order.

    `fn` must be picklable (a module-level function) and so must `model` and `args`. The model's
    parameters are trained in place: after the call they hold the workers' combined updates.
    Each worker defaults to GRAPHC_NUM_THREADS = cores // n_workers. A worker that raises (or
    dies) terminates the others and raises GraphcError here; `timeout` (seconds) bounds the run.
    Results vary between runs by design (see the module docstring).
    """
    if not isinstance(n_workers, int) or n_workers < 1:
        raise GraphcError(f"hogwild needs n_workers >= 1, got {n_workers!r}")
    params = _params(model)
    if not params:
        raise GraphcError("hogwild: the model has no parameters to share")
    layout, size = _layout([p._data for p in params])
    shm = shared_memory.SharedMemory(create=True, size=size)
    views = _views(shm.buf, layout)
    private = [p._data for p in params]
    procs: list = []
    try:
        for p, v in zip(params, views):
            np.copyto(v, p._data)
            p._data = v
        model_bytes = pickle.dumps(model)
        ctx = multiprocessing.get_context("spawn")
        results, start = ctx.Queue(), ctx.Barrier(n_workers)
        for w in range(n_workers):
            proc = ctx.Process(target=_worker_main, name=f"graphc-hogwild-{w}", daemon=True,
                               args=(fn, w, n_workers, model_bytes, shm.name, size, layout, args,
                                     results, start))
            proc.start()
            procs.append(proc)
        return _collect(procs, results, n_workers, timeout)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(5)
        for p, mine, v in zip(params, private, views):  # the model owns private arrays again,
            np.copyto(mine, v)                          # holding the weights as trained
            p._data = mine
        del views  # the segment closes only once no array views it
        shm.close()
        shm.unlink()


def _collect(procs, results, n: int, timeout: float | None) -> list:
    """Each worker's result, in worker order; GraphcError as soon as one fails or dies."""
    got: dict[int, Any] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    silent: dict[int, int] = {}   # worker -> empty polls since it was seen dead
    while len(got) < n:
        try:
            worker, ok, payload = results.get(timeout=0.2)
        except queue.Empty:
            for w, proc in enumerate(procs):
                if w in got or proc.is_alive():
                    continue
                if proc.exitcode != 0:
                    raise GraphcError(f"hogwild worker {w} died (exit code {proc.exitcode})")
                silent[w] = silent.get(w, 0) + 1
                if silent[w] > 5:   # its result would have arrived by now (os._exit(0)?)
                    raise GraphcError(f"hogwild worker {w} exited without returning a result")
            if deadline is not None and time.monotonic() > deadline:
                raise GraphcError(f"hogwild: timed out after {timeout} s "
                                  f"({len(got)} of {n} workers finished)") from None
            continue
        if not ok:
            raise GraphcError(f"hogwild worker {worker} failed: {payload}")
        got[worker] = payload
    return [got[w] for w in range(n)]


def shard_loader(dataset, batch_size: int, worker: int, n_workers: int, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
    """Worker `worker`'s disjoint shard of each epoch (graphc.distributed.DistributedDataLoader)."""
    from .distributed import DistributedDataLoader
    return DistributedDataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last, num_replicas=n_workers, rank=worker)


def _spawn_main(fn, i, args, errors):
    try:
        fn(i, *args)
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        errors.put((i, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        raise SystemExit(1) from None


def spawn(fn: Callable[..., Any], args: tuple = (), nprocs: int = 1, join: bool = True,
          daemon: bool = False, start_method: str = "spawn"):
    """torch.multiprocessing.spawn: run `fn(i, *args)` in `nprocs` processes; with `join`, wait
    and raise GraphcError carrying the first failing process's traceback. Returns the
    processes when `join` is False."""
    ctx = multiprocessing.get_context(start_method)
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=_spawn_main, args=(fn, i, args, errors), daemon=daemon)
             for i in range(nprocs)]
    for p in procs:
        p.start()
    if not join:
        return procs
    for p in procs:
        p.join()
    if not errors.empty():
        i, tb = errors.get()
        raise GraphcError(f"process {i} of spawn({getattr(fn, '__name__', fn)}) failed: {tb}")
    bad = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if bad:
        raise GraphcError(f"spawn: process {bad[0][0]} exited with code {bad[0][1]}")
    return None
