"""The `argsort` kernel: a stable bottom-up merge sort of each row's indices.

The operand is viewed as (outer, n, inner) around the sorted axis; each of the outer * inner rows
is sorted on its own. Indices are compared by (key, index) in the op's order (NaN above every
number, -0.0 equal to 0.0, ties by increasing index), a strict total order, so the permutation is
unique and equals the interpreter's for any thread count. Runs of RUN indices are sorted by
insertion, then merged in log2(n / RUN) passes between two scratch rows in the arena: O(n log n)
comparisons, n up to any size. Rows are independent: large inputs split them over the thread pool,
one pair of scratch rows per task.

A whole kernel (see kernels/__init__.py): it builds its own function and pool tasks.
"""
from __future__ import annotations

import math

import llvmlite.ir as ir

from .... import dtypes
from .. import irhelp as H
from . import register_kernel

RUN = 16                 # rows are first sorted in runs of this many by insertion
MAX_TASKS = 8            # the split depends on the shape only, never on the thread count
MIN_TASK_WORK = 1 << 15  # elements a task should sort at least


def _before(b, dt, descending: bool, va, vb, ia, ib):
    """i1: index `ia` (key va) sorts strictly before index `ib` (key vb)."""
    if dt.is_float:
        a_nan, b_nan = b.fcmp_unordered("uno", va, va), b.fcmp_unordered("uno", vb, vb)
        if descending:
            less = b.or_(b.fcmp_ordered(">", va, vb), b.and_(a_nan, b.not_(b_nan)))
        else:
            less = b.or_(b.fcmp_ordered("<", va, vb), b.and_(b_nan, b.not_(a_nan)))
        same = b.or_(b.fcmp_ordered("==", va, vb), b.and_(a_nan, b_nan))
    else:
        cmp = b.icmp_unsigned if dt.is_bool or dt.name == "u8" else b.icmp_signed
        less = cmp(">" if descending else "<", va, vb)
        same = b.icmp_signed("==", va, vb)
    return b.or_(less, b.and_(same, b.icmp_signed("<", ia, ib)))


def _while(b: ir.IRBuilder, cond, body, carried: list, name: str) -> list:
    """while cond(carried): carried = body(carried). Returns the final carried values."""
    pre = b.block
    head = b.append_basic_block(f"{name}.head")
    bodyb = b.append_basic_block(f"{name}.body")
    exit_ = b.append_basic_block(f"{name}.exit")
    b.branch(head)
    b.position_at_end(head)
    phis = []
    for c in carried:
        p = b.phi(c.type)
        p.add_incoming(c, pre)
        phis.append(p)
    b.cbranch(cond(phis), bodyb, exit_)
    b.position_at_end(bodyb)
    new = body(phis)
    for p, v in zip(phis, new):
        p.add_incoming(v, b.block)
    b.branch(head)
    b.position_at_end(exit_)
    return phis


def _min(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _sort_rows(b, x, y, dt, scratch, n: int, inner: int, descending: bool, row_lo, row_hi):
    """Sort rows [row_lo, row_hi) of x into index rows of y, with 2 * n i64 of `scratch`."""
    bufs = [scratch, b.gep(scratch, [H.i64(n)], source_etype=H.I64)]

    def row(r, _):
        o, i = b.sdiv(r, H.i64(inner)), b.srem(r, H.i64(inner))
        base = b.add(b.mul(o, H.i64(n * inner)), i)

        def key(k):
            return H.load(b, x, dt, b.add(base, b.mul(k, H.i64(inner))))

        def before(ia, ib):
            return _before(b, dt, descending, key(ia), key(ib), ia, ib)

        a = bufs[0]
        H.loop(b, n, lambda k, c: (H.store(b, k, a, dtypes.int64, k), [])[1], name="iota")

        def run(s, _):   # insertion sort of a[s : s + RUN]
            e = _min(b, b.add(s, H.i64(RUN)), H.i64(n))

            def insert(k, _):
                v = H.load(b, a, dtypes.int64, k)

                def cond(c):
                    (j,) = c
                    more = b.icmp_signed(">", j, s)
                    prev = H.load(b, a, dtypes.int64, b.select(more, b.sub(j, H.i64(1)), s))
                    return b.and_(more, before(v, prev))

                def shift(c):
                    (j,) = c
                    jm = b.sub(j, H.i64(1))
                    H.store(b, H.load(b, a, dtypes.int64, jm), a, dtypes.int64, j)
                    return [jm]
                (j,) = _while(b, cond, shift, [k], "ins")
                H.store(b, v, a, dtypes.int64, j)
                return []
            H.loop(b, e, insert, start=b.add(s, H.i64(1)), name="ins_k")
            return []
        H.loop(b, n, run, step=RUN, name="runs")

        src, width = 0, RUN
        while width < n:   # one merge pass per doubling, unrolled: n is a compile-time constant
            s_buf, d_buf = bufs[src], bufs[1 - src]

            def merge(lo, _, s_buf=s_buf, d_buf=d_buf, width=width):
                mid = _min(b, b.add(lo, H.i64(width)), H.i64(n))
                hi = _min(b, b.add(lo, H.i64(2 * width)), H.i64(n))

                def step(k, c):
                    li, ri = c
                    l_ok, r_ok = b.icmp_signed("<", li, mid), b.icmp_signed("<", ri, hi)
                    lv = H.load(b, s_buf, dtypes.int64, b.select(l_ok, li, lo))
                    rv = H.load(b, s_buf, dtypes.int64, b.select(r_ok, ri, lo))
                    take_l = b.and_(l_ok, b.or_(b.not_(r_ok), b.not_(before(rv, lv))))
                    H.store(b, b.select(take_l, lv, rv), d_buf, dtypes.int64, k)
                    one_l = b.zext(take_l, H.I64)
                    return [b.add(li, one_l), b.add(ri, b.sub(H.i64(1), one_l))]
                H.loop(b, hi, step, [lo, mid], start=lo, name="merge")
                return []
            H.loop(b, n, merge, step=2 * width, name="pass")
            src, width = 1 - src, width * 2

        out = bufs[src]
        H.loop(b, n, lambda k, c: (H.store(b, H.load(b, out, dtypes.int64, k), y, dtypes.int64,
                                           b.add(base, b.mul(k, H.i64(inner)))), [])[1],
               name="write")
        return []
    H.loop(b, row_hi, row, start=row_lo, name="row")


def tasks_for(rows: int, n: int) -> int:
    """How many pool tasks sort `rows` rows of n (a function of the shape alone)."""
    return max(1, min(MAX_TASKS, rows, rows * n // MIN_TASK_WORK))


@register_kernel("argsort", whole=True)
def emit_argsort(mb, b, slots, node, err, name: str) -> None:
    """One internal kernel `name` sorting every row; split over the pool for large inputs."""
    x, y = node.inputs[0], node.outputs[0]
    shape = x.shape or (1,)
    axis, descending = node.attrs["axis"], node.attrs.get("descending", False)
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    rows = outer * inner
    if rows * n == 0:
        return
    tasks = tasks_for(rows, n)
    scratch_off = mb.reserve(tasks * 2 * n * 8)
    args = [mb.pointer(b, slots, x), mb.pointer(b, slots, y),
            mb.arena_pointer(b, slots, scratch_off)]
    kf, kb = mb.kernel_function(name, len(args))
    for a in kf.args:
        a.add_attribute("noalias")
    xp, yp, sp = kf.args
    if tasks == 1:
        _sort_rows(kb, xp, yp, x.dtype, sp, n, inner, descending, H.i64(0), H.i64(rows))
    else:
        task, tb, (txp, typ, tsp) = mb.pool_task(name + "_task", 3)
        t = task.args[1]
        per = -(-rows // tasks)
        lo = tb.mul(t, H.i64(per))
        hi = _min(tb, tb.add(lo, H.i64(per)), H.i64(rows))
        scratch = tb.gep(tsp, [tb.mul(t, H.i64(2 * n))], source_etype=H.I64)
        _sort_rows(tb, txp, typ, x.dtype, scratch, n, inner, descending, lo, hi)
        tb.ret_void()
        mb.run_on_pool(kb, task, list(kf.args), tasks)
    kb.ret_void()
    b.call(kf, args)
