"""A persistent thread pool in native code, so one native call can use every core.

`graphc_parallel_for(task, ctx, n)` runs `task(ctx, i)` for i in [0, n) on the calling thread and
the pool's workers, and returns when all are done. Tasks write disjoint outputs with the same
code whichever thread runs them, so results do not depend on the number of threads.

Workers spin briefly on a generation counter (a training step calls the pool many times in a
row), then sleep on a condition variable. If the pool is busy (two Python threads in native code
at once), the caller simply runs its tasks itself. The module is written in LLVM IR with
llvmlite.ir (no C compiler needed) and calls pthreads from the C library.

GRAPHC_NUM_THREADS sets the number of threads (default: all cores); 1 disables the pool.
"""
from __future__ import annotations

import ctypes
import threading

import llvmlite.ir as ir

from ... import config
from . import irhelp as H
from . import target

SPINS = 4000  # pause loops before a worker sleeps (~0.2-0.5 ms)
_lock = threading.Lock()
_state: dict = {}


def _store_atomic(b: ir.IRBuilder, value, ptr, ordering: str, align: int):
    """IRBuilder.store_atomic insists on typed pointers; with opaque ones build the instruction."""
    st = ir.instructions.StoreAtomicInstr(b.block, value, ptr, ordering, align)
    b._insert(st)
    return st


def _build() -> ir.Module:
    m = ir.Module("graphc_pool")
    i32, i64, ptr = H.I32, H.I64, H.PTR
    task_ty = ir.FunctionType(H.VOID, [ptr, i64])
    x86 = "x86" in target.host()["triple"]

    def gvar(name, ty, init):
        g = ir.GlobalVariable(m, ty, name)
        g.initializer = init
        g.linkage = "internal"
        return g

    gen = gvar("gen", i32, ir.Constant(i32, 0))          # bumped once per parallel_for
    fnp = gvar("fn", ptr, ir.Constant(ptr, None))
    ctxp = gvar("ctx", ptr, ir.Constant(ptr, None))
    ntask = gvar("ntask", i64, ir.Constant(i64, 0))
    nxt = gvar("next", i64, ir.Constant(i64, 0))         # generation << 32 | next task index
    done = gvar("done", i64, ir.Constant(i64, 0))        # tasks finished in this generation
    busy = gvar("busy", i32, ir.Constant(i32, 0))
    workers = gvar("workers", i32, ir.Constant(i32, 0))
    mutex = gvar("mutex", ir.ArrayType(H.I8, 64), ir.Constant(ir.ArrayType(H.I8, 64), None))
    cond = gvar("cond", ir.ArrayType(H.I8, 64), ir.Constant(ir.ArrayType(H.I8, 64), None))

    def ext(name, ret, args):
        return m.globals.get(name) or ir.Function(m, ir.FunctionType(ret, args), name)

    lock = ext("pthread_mutex_lock", i32, [ptr])
    unlock = ext("pthread_mutex_unlock", i32, [ptr])
    wait = ext("pthread_cond_wait", i32, [ptr, ptr])
    bcast = ext("pthread_cond_broadcast", i32, [ptr])
    create = ext("pthread_create", i32, [ptr, ptr, ptr, ptr])
    detach = ext("pthread_detach", i32, [i64])
    yield_ = ext("sched_yield", i32, [])

    def relax(b):
        if x86:
            b.call(ext("llvm.x86.sse2.pause", H.VOID, []), [])

    def claim_and_run(b, fn, ctx, n, g):
        """Claim tasks tagged with generation g until none are left; run each one."""
        f = b.function
        head, try_, body, out = (f.append_basic_block(x) for x in
                                 ("claim", "claim.try", "claim.run", "claim.done"))
        b.branch(head)
        b.position_at_end(head)
        cur = b.load_atomic(nxt, "acquire", 8, typ=i64)
        tag = b.trunc(b.lshr(cur, ir.Constant(i64, 32)), i32)
        idx = b.and_(cur, ir.Constant(i64, 0xFFFFFFFF))
        ok = b.and_(b.icmp_unsigned("==", tag, g), b.icmp_signed("<", idx, n))
        b.cbranch(ok, try_, out)
        b.position_at_end(try_)
        res = b.cmpxchg(nxt, cur, b.add(cur, ir.Constant(i64, 1)), "acq_rel", "acquire")
        b.cbranch(b.extract_value(res, 1), body, head)
        b.position_at_end(body)
        b.call(fn, [ctx, idx])
        b.atomic_rmw("add", done, ir.Constant(i64, 1), "release")
        b.branch(head)
        b.position_at_end(out)

    # worker: wait for a new generation (spin, then sleep), claim its tasks; forever
    wf = ir.Function(m, ir.FunctionType(ptr, [ptr]), "graphc_pool_worker")
    b = ir.IRBuilder(wf.append_basic_block("entry"))
    my = b.alloca(i32)
    count = b.alloca(i32)
    b.store(ir.Constant(i32, 0), my)
    b.store(ir.Constant(i32, 0), count)
    loop, more, keep, sleep, chk, slp, wake, work = (wf.append_basic_block(x) for x in (
        "spin", "spin.more", "spin.keep", "sleep", "sleep.check", "sleep.wait", "sleep.wake",
        "work"))
    b.branch(loop)
    b.position_at_end(loop)
    g = b.load_atomic(gen, "acquire", 4, typ=i32)
    b.cbranch(b.icmp_unsigned("!=", g, b.load(my, typ=i32)), work, more)
    b.position_at_end(more)
    c = b.add(b.load(count, typ=i32), ir.Constant(i32, 1))
    b.store(c, count)
    b.cbranch(b.icmp_signed("<", c, ir.Constant(i32, SPINS)), keep, sleep)
    b.position_at_end(keep)
    relax(b)
    b.branch(loop)
    b.position_at_end(sleep)
    b.call(lock, [mutex])
    b.branch(chk)
    b.position_at_end(chk)
    g2 = b.load_atomic(gen, "acquire", 4, typ=i32)
    b.cbranch(b.icmp_unsigned("==", g2, b.load(my, typ=i32)), slp, wake)
    b.position_at_end(slp)
    b.call(wait, [cond, mutex])
    b.branch(chk)
    b.position_at_end(wake)
    b.call(unlock, [mutex])
    b.branch(loop)
    b.position_at_end(work)
    b.store(g, my)
    b.store(ir.Constant(i32, 0), count)
    fn = b.load_atomic(fnp, "acquire", 8, typ=task_ty.as_pointer())  # typed: callable
    ctx = b.load_atomic(ctxp, "acquire", 8, typ=ptr)
    n = b.load_atomic(ntask, "acquire", 8, typ=i64)
    claim_and_run(b, fn, ctx, n, g)  # a stale generation claims nothing
    b.branch(loop)

    # graphc_parallel_for(task, ctx, n)
    pf = ir.Function(m, ir.FunctionType(H.VOID, [task_ty.as_pointer(), ptr, i64]),
                     "graphc_parallel_for")
    task, ctx, n = pf.args
    b = ir.IRBuilder(pf.append_basic_block("entry"))
    serial, try_pool, pooled = (pf.append_basic_block(x) for x in ("serial", "try", "pooled"))
    nw = b.load_atomic(workers, "acquire", 4, typ=i32)
    small = b.or_(b.icmp_signed("<=", n, ir.Constant(i64, 1)),
                  b.icmp_signed("==", nw, ir.Constant(i32, 0)))
    b.cbranch(small, serial, try_pool)
    b.position_at_end(try_pool)
    res = b.cmpxchg(busy, ir.Constant(i32, 0), ir.Constant(i32, 1), "acquire", "monotonic")
    b.cbranch(b.extract_value(res, 1), pooled, serial)
    b.position_at_end(serial)  # no pool, or another thread is using it: run here, in order
    H.loop(b, n, lambda i, c: (b.call(task, [ctx, i]), [])[1], name="ser")
    b.ret_void()
    b.position_at_end(pooled)
    g = b.add(b.load_atomic(gen, "acquire", 4, typ=i32), ir.Constant(i32, 1))
    _store_atomic(b, task, fnp, "release", 8)
    _store_atomic(b, ctx, ctxp, "release", 8)
    _store_atomic(b, n, ntask, "release", 8)
    _store_atomic(b, ir.Constant(i64, 0), done, "release", 8)
    _store_atomic(b, b.shl(b.zext(g, i64), ir.Constant(i64, 32)), nxt, "release", 8)
    b.call(lock, [mutex])
    _store_atomic(b, g, gen, "release", 4)
    b.call(bcast, [cond])
    b.call(unlock, [mutex])
    claim_and_run(b, task, ctx, n, g)
    # wait for tasks other threads claimed (never for threads that did not show up)
    spins = b.alloca(i32)
    b.store(ir.Constant(i32, 0), spins)
    wl, wspin, wyield, wd = (pf.append_basic_block(x) for x in ("join", "join.spin",
                                                                "join.yield", "joined"))
    b.branch(wl)
    b.position_at_end(wl)
    left = b.icmp_signed("<", b.load_atomic(done, "acquire", 8, typ=i64), n)
    b.cbranch(left, wspin, wd)
    b.position_at_end(wspin)
    k = b.add(b.load(spins, typ=i32), ir.Constant(i32, 1))
    b.store(k, spins)
    relax(b)
    b.cbranch(b.icmp_signed("<", k, ir.Constant(i32, 4000)), wl, wyield)
    b.position_at_end(wyield)
    b.call(yield_, [])
    b.branch(wl)
    b.position_at_end(wd)
    _store_atomic(b, ir.Constant(i32, 0), busy, "release", 4)
    b.ret_void()

    # graphc_pool_start(k): start k worker threads (detached)
    sf = ir.Function(m, ir.FunctionType(i32, [i32]), "graphc_pool_start")
    (k,) = sf.args
    b = ir.IRBuilder(sf.append_basic_block("entry"))
    tid = b.alloca(i64)

    def start_one(i, c):
        rc = b.call(create, [tid, ir.Constant(ptr, None), wf, ir.Constant(ptr, None)])
        with b.if_then(b.icmp_signed("==", rc, ir.Constant(i32, 0))):
            b.call(detach, [b.load(tid, typ=i64)])
            b.atomic_rmw("add", workers, ir.Constant(i32, 1), "acq_rel")
        return []
    H.loop(b, b.sext(k, i64), start_one, name="start")
    b.ret(b.load_atomic(workers, "acquire", 4, typ=i32))
    return m


def num_threads() -> int:
    """Threads to use: GRAPHC_NUM_THREADS if positive, else the CPU count."""
    return config.num_threads()


def parallel_for_address() -> int:
    """Address of graphc_parallel_for; the pool is built and started on first use."""
    with _lock:
        if "pf" not in _state:
            mod = target.optimize(str(_build()), opt=2)
            obj = target.emit_object(mod)
            loaded = target.Loaded(obj, ["graphc_parallel_for", "graphc_pool_start"],
                                   process=True)
            _state["loaded"] = loaded
            start = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)(
                loaded.addresses["graphc_pool_start"])
            _state["workers"] = start(max(num_threads() - 1, 0))
            _state["pf"] = loaded.addresses["graphc_parallel_for"]
        return _state["pf"]


def started_threads() -> int | None:
    """Threads the running pool uses (its workers and the caller), or None before its first use."""
    return _state["workers"] + 1 if "workers" in _state else None


def workers() -> int:
    """How many worker threads the pool started (building and starting it on first use)."""
    parallel_for_address()
    return _state["workers"]
