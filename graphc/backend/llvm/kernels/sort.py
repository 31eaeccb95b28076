"""The `argsort` kernel: a stable bottom-up merge sort of each row.

The operand is viewed as (outer, n, inner) around the sorted axis; each of the outer * inner rows
is sorted on its own. Every element becomes an unsigned integer key whose order is the op's (NaN
above every number, -0.0 equal to 0.0; inverted when descending), and elements are compared by
(key, index): a strict total order, so the permutation is unique (ties by increasing index) and
equals the interpreter's for any thread count. Keys of dtypes up to 32 bits are packed with their
index into one u64 (key << 32 | index), so a comparison is one integer compare; 64-bit dtypes keep
(key, index) pairs. Runs of RUN records are sorted by insertion, then merged in log2(n / RUN)
passes between two scratch rows in the arena: O(n log n) comparisons on contiguous memory, for any
n. Rows are independent: large inputs split them over the thread pool, one set of scratch rows per
task.

A whole kernel (see kernels/__init__.py): it builds its own function and pool tasks.
"""
from __future__ import annotations

import math

from llvmlite import ir

from .... import dtypes
from .. import irhelp as H
from . import pool_tasks, register_kernel

RUN = 16                 # rows are first sorted in runs of this many by insertion
MIN_TASK_WORK = 1 << 15  # elements a task should sort at least
I = dtypes.int64         # records are stored as i64 (keys as their bit patterns)


def _key(b, v, dt, descending: bool):
    """An unsigned key of v (i32 for dtypes up to 32 bits, else i64) in the sort's order."""
    bits = 64 if dt.itemsize == 8 else 32
    it = ir.IntType(bits)
    top = ir.Constant(it, 1 << (bits - 1))
    if dt.is_float:
        v = b.select(b.fcmp_ordered("==", v, ir.Constant(v.type, 0.0)),
                     ir.Constant(v.type, 0.0), v)               # -0.0 sorts as 0.0
        raw = b.bitcast(v, it)
        neg = b.icmp_signed("<", raw, ir.Constant(it, 0))
        key = b.select(neg, b.not_(raw), b.or_(raw, top))      # IEEE order as unsigned order
        key = b.select(b.fcmp_unordered("uno", v, v), ir.Constant(it, (1 << bits) - 1), key)
    elif dt.is_bool or dt.name == "u8":
        key = b.zext(v, it)
    else:
        key = b.xor(v if v.type == it else b.sext(v, it), top)   # signed order as unsigned
    return b.not_(key) if descending else key


class _Packed:
    """Records of one u64: key << 32 | index (keys of 32 bits, n < 2**32)."""

    fields = 1

    @staticmethod
    def make(b, key, k):
        return [b.or_(b.shl(b.zext(key, H.I64), H.i64(32)), k)]

    @staticmethod
    def less(b, r, s):
        return b.icmp_unsigned("<", r[0], s[0])

    @staticmethod
    def index(b, r):
        return b.and_(r[0], H.i64(0xFFFFFFFF))


class _Pair:
    """Records of (u64 key, i64 index)."""

    fields = 2

    @staticmethod
    def make(b, key, k):
        return [key, k]

    @staticmethod
    def less(b, r, s):
        return b.or_(b.icmp_unsigned("<", r[0], s[0]),
                     b.and_(b.icmp_unsigned("==", r[0], s[0]), b.icmp_signed("<", r[1], s[1])))

    @staticmethod
    def index(b, r):
        return r[1]


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


def _sort_rows(b, x, y, dt, rec, scratch, n: int, inner: int, descending: bool, row_lo, row_hi):
    """Sort rows [row_lo, row_hi) of x into index rows of y, with 2 * rec.fields * n i64 of
    `scratch` (two rows of records, each field its own array)."""
    f = rec.fields
    bufs = [[b.gep(scratch, [H.i64((r * f + c) * n)], source_etype=H.I64) for c in range(f)]
            for r in range(2)]

    def load(buf, k):
        return [H.load(b, p, I, k) for p in buf]

    def store(vals, buf, k):
        for v, p in zip(vals, buf):
            H.store(b, v, p, I, k)

    def row(r, _):
        o, i = b.sdiv(r, H.i64(inner)), b.srem(r, H.i64(inner))
        base = b.add(b.mul(o, H.i64(n * inner)), i)
        a = bufs[0]

        def init(k, c):
            key = _key(b, H.load(b, x, dt, b.add(base, b.mul(k, H.i64(inner)))), dt, descending)
            store(rec.make(b, key, k), a, k)
            return []
        H.loop(b, n, init, name="keys")

        def run(s, _):   # insertion sort of a[s : s + RUN]
            e = _min(b, b.add(s, H.i64(RUN)), H.i64(n))

            def insert(k, _):
                v = load(a, k)

                def cond(c):
                    (j,) = c
                    more = b.icmp_signed(">", j, s)
                    prev = load(a, b.select(more, b.sub(j, H.i64(1)), s))
                    return b.and_(more, rec.less(b, v, prev))

                def shift(c):
                    (j,) = c
                    jm = b.sub(j, H.i64(1))
                    store(load(a, jm), a, j)
                    return [jm]
                (j,) = _while(b, cond, shift, [k], "ins")
                store(v, a, j)
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
                    lv = load(s_buf, b.select(l_ok, li, lo))
                    rv = load(s_buf, b.select(r_ok, ri, lo))
                    take_l = b.and_(l_ok, b.or_(b.not_(r_ok), rec.less(b, lv, rv)))
                    store([b.select(take_l, p, q) for p, q in zip(lv, rv)], d_buf, k)
                    one_l = b.zext(take_l, H.I64)
                    return [b.add(li, one_l), b.add(ri, b.sub(H.i64(1), one_l))]
                H.loop(b, hi, step, [lo, mid], start=lo, name="merge")
                return []
            H.loop(b, n, merge, step=2 * width, name="pass")
            src, width = 1 - src, width * 2

        out = bufs[src]
        H.loop(b, n, lambda k, c: (H.store(b, rec.index(b, load(out, k)), y, I,
                                           b.add(base, b.mul(k, H.i64(inner)))), [])[1],
               name="write")
        return []
    H.loop(b, row_hi, row, start=row_lo, name="row")


def tasks_for(rows: int, n: int) -> int:
    """How many pool tasks sort `rows` rows of n (a function of the shape alone)."""
    return pool_tasks(rows, rows * n, MIN_TASK_WORK)


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
    rec = _Packed if x.dtype.itemsize <= 4 and n < 1 << 32 else _Pair
    tasks = tasks_for(rows, n)
    per_task = 2 * rec.fields * n      # i64 words: two rows of records
    scratch_off = mb.reserve(tasks * per_task * 8)
    args = [mb.pointer(b, slots, x), mb.pointer(b, slots, y),
            mb.arena_pointer(b, slots, scratch_off)]
    kf, kb = mb.kernel_function(name, len(args))
    for a in kf.args:
        a.add_attribute("noalias")
    xp, yp, sp = kf.args
    if tasks == 1:
        _sort_rows(kb, xp, yp, x.dtype, rec, sp, n, inner, descending, H.i64(0), H.i64(rows))
    else:
        task, tb, (txp, typ, tsp) = mb.pool_task(name + "_task", 3)
        t = task.args[1]
        per = -(-rows // tasks)
        lo = tb.mul(t, H.i64(per))
        hi = _min(tb, tb.add(lo, H.i64(per)), H.i64(rows))
        scratch = tb.gep(tsp, [tb.mul(t, H.i64(per_task))], source_etype=H.I64)
        _sort_rows(tb, txp, typ, x.dtype, rec, scratch, n, inner, descending, lo, hi)
        tb.ret_void()
        mb.run_on_pool(kb, task, list(kf.args), tasks)
    kb.ret_void()
    b.call(kf, args)
