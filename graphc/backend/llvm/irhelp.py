"""Small llvmlite.ir helpers: types per dtype and vector width, loads/stores, splats, loops.

Kernels are written against these so they read as their math (Numba's cgutils does the same).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Sequence

import llvmlite.ir as ir

from ...dtypes import DType

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()
VOID = ir.VoidType()

_SCALAR = {"f32": F32, "f64": F64, "i64": I64, "i32": I32, "i8": I8, "u8": I8, "bool": I1}
_MEMORY = dict(_SCALAR, bool=I8)  # NumPy stores bool as one byte


def scalar_type(dt: DType) -> ir.Type:
    """The LLVM type values of dtype `dt` are computed in (i1 for bool)."""
    return _SCALAR[dt.name]


def mem_type(dt: DType) -> ir.Type:
    """The LLVM type of dtype `dt` in memory (bool is one byte, as in NumPy)."""
    return _MEMORY[dt.name]


def vtype(dt: DType, w: int) -> ir.Type:
    """dt's computation type, as a vector of `w` lanes if w > 1."""
    t = scalar_type(dt)
    return t if w == 1 else ir.VectorType(t, w)


def const(dt: DType, value, w: int = 1) -> ir.Value:
    """A constant of dtype `dt`, splat to `w` lanes if w > 1."""
    t = scalar_type(dt)
    if dt.is_bool:
        value = int(bool(value))
    elif dt.is_int:
        value = int(value)
    else:
        value = float(value)
    c = ir.Constant(t, value)
    return c if w == 1 else ir.Constant(ir.VectorType(t, w), [c] * w)


def i64(n: int) -> ir.Constant:
    """An i64 constant."""
    return ir.Constant(I64, int(n))


def splat(b: ir.IRBuilder, v: ir.Value, w: int) -> ir.Value:
    """`v` in every lane of a `w`-lane vector (v itself if w == 1)."""
    if w == 1:
        return v
    if isinstance(v, ir.Constant) and not isinstance(v.type, ir.VectorType):
        return ir.Constant(ir.VectorType(v.type, w), [v] * w)
    vt = ir.VectorType(v.type, w)
    first = b.insert_element(ir.Constant(vt, ir.Undefined), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vt, ir.Undefined),
                            ir.Constant(ir.VectorType(I32, w), [0] * w))


def gep(b: ir.IRBuilder, ptr: ir.Value, dt: DType, index: ir.Value) -> ir.Value:
    """The address of element `index` of dtype `dt` from `ptr`."""
    return b.gep(ptr, [index], source_etype=mem_type(dt))


# GRAPHC_BOUNDS_CHECK=1: while codegen emits one kernel, the table maps id(pointer) of each of
# its buffers to (element count, error flag); every load and store through such a pointer then
# checks its index (error code 2, access clamped). A context variable, so each thread (each
# compilation) sees only the table of the kernel it is emitting.
_BOUNDS: ContextVar[dict | None] = ContextVar("graphc_bounds", default=None)


@contextmanager
def bounds_checked(table: dict):
    """Check loads and stores through the pointers in `table` while the block runs (this thread
    only): `table[id(ptr)] = (element count, i32 error flag pointer)`."""
    token = _BOUNDS.set(table)
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def _checked(b: ir.IRBuilder, bounds: dict, ptr: ir.Value, index: ir.Value, w: int) -> ir.Value:
    entry = bounds.get(id(ptr))
    if entry is None or not isinstance(index.type, ir.IntType):
        return index
    n, err = entry
    bad = b.or_(b.icmp_signed("<", index, i64(0)), b.icmp_signed(">", b.add(index, i64(w)),
                                                                  i64(n)))
    with b.if_then(bad, likely=False):
        b.store(ir.Constant(I32, 2), err)
    return b.select(bad, i64(0), index)


def load(b: ir.IRBuilder, ptr: ir.Value, dt: DType, index: ir.Value, w: int = 1) -> ir.Value:
    """Load w consecutive elements starting at `index` (unaligned; NumPy gives 16-byte alignment)."""
    bounds = _BOUNDS.get()
    if bounds:
        index = _checked(b, bounds, ptr, index, w)
    mt = mem_type(dt)
    p = b.gep(ptr, [index], source_etype=mt)
    t = mt if w == 1 else ir.VectorType(mt, w)
    v = b.load(p, typ=t, align=dt.itemsize)
    if dt.is_bool:
        v = b.icmp_unsigned("!=", v, ir.Constant(t, 0) if w == 1 else
                            ir.Constant(t, [ir.Constant(mt, 0)] * w))
    return v


def store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, dt: DType, index: ir.Value,
          w: int = 1) -> None:
    """Store `value` (w lanes) at element `index` of `ptr`; bools widen to bytes."""
    bounds = _BOUNDS.get()
    if bounds:
        index = _checked(b, bounds, ptr, index, w)
    mt = mem_type(dt)
    if dt.is_bool:
        value = b.zext(value, mt if w == 1 else ir.VectorType(mt, w))
    p = b.gep(ptr, [index], source_etype=mt)
    if w > 1 and not p.type.is_opaque:  # a typed pointer (an alloca) takes a vector's type
        p = b.bitcast(p, value.type.as_pointer())
    b.store(value, p, align=dt.itemsize)


def loop(b: ir.IRBuilder, n, body: Callable, carried: Sequence[ir.Value] = (), start=0,
         step: int = 1, name: str = "i") -> list[ir.Value]:
    """for i in range(start, n, step): carried = body(i, carried). Returns the final carried values.

    `n` and `start` may be Python ints or i64 values; the body builds at the builder's position.
    """
    start = i64(start) if isinstance(start, int) else start
    stop = i64(n) if isinstance(n, int) else n
    pre = b.block
    header = b.append_basic_block(f"{name}.head")
    bodyb = b.append_basic_block(f"{name}.body")
    exit_ = b.append_basic_block(f"{name}.exit")
    b.branch(header)
    b.position_at_end(header)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    phis = []
    for c in carried:
        p = b.phi(c.type)
        p.add_incoming(c, pre)
        phis.append(p)
    b.cbranch(b.icmp_signed("<", i, stop), bodyb, exit_)
    b.position_at_end(bodyb)
    new = body(i, list(phis)) or []
    latch = b.block
    nxt = b.add(i, i64(step), name=f"{name}.next", flags=("nsw",))
    i.add_incoming(nxt, latch)
    for p, v in zip(phis, new):
        p.add_incoming(v, latch)
    b.branch(header)
    b.position_at_end(exit_)
    return list(phis)


def hsum(b: ir.IRBuilder, v: ir.Value, w: int, fast=("reassoc", "contract")) -> ir.Value:
    """Horizontal sum of a vector by halving (deterministic order)."""
    while w > 1:
        half = w // 2
        lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
        hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half),
                                                list(range(half, w))))
        v = b.fadd(lo, hi, flags=fast) if isinstance(v.type.element, (ir.FloatType, ir.DoubleType)) \
            else b.add(lo, hi)
        w = half
    return b.extract_element(v, ir.Constant(I32, 0))


def hreduce(b: ir.IRBuilder, v: ir.Value, w: int, combine: Callable) -> ir.Value:
    """Horizontal reduction with `combine(a, b)` by halving."""
    while w > 1:
        half = w // 2
        lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
        hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half),
                                                list(range(half, w))))
        v = combine(lo, hi)
        w = half
    return b.extract_element(v, ir.Constant(I32, 0))


def memcpy(b: ir.IRBuilder, module: ir.Module, dst, src, nbytes: int) -> None:
    """Emit llvm.memcpy of `nbytes` from `src` to `dst` (nothing if nbytes <= 0)."""
    if nbytes <= 0:
        return
    name = "llvm.memcpy.p0.p0.i64"
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(VOID, [PTR, PTR, I64, I1]), name)
    b.call(fn, [dst, src, i64(nbytes), ir.Constant(I1, 0)])


def memset0(b: ir.IRBuilder, module: ir.Module, dst, nbytes: int) -> None:
    """Emit llvm.memset zeroing `nbytes` at `dst` (nothing if nbytes <= 0)."""
    if nbytes <= 0:
        return
    name = "llvm.memset.p0.i64"
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(VOID, [PTR, I8, I64, I1]), name)
    b.call(fn, [dst, ir.Constant(I8, 0), i64(nbytes), ir.Constant(I1, 0)])


def transpose8(b: ir.IRBuilder, rows: list) -> list:
    """The 8 columns of 8 row vectors of 8 lanes (i32 or float): three rounds of two-input
    shuffles (interleave 32-bit pairs, then 64-bit pairs, then swap 128-bit halves)."""
    def shuf(x, y, idx):
        return b.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, 8), idx))
    lo, hi = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
    t = [f(rows[i], rows[i + 1]) for i in range(0, 8, 2)
         for f in (lambda x, y: shuf(x, y, lo), lambda x, y: shuf(x, y, hi))]
    lo, hi = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
    u = []
    for q in (0, 4):
        u += [shuf(t[q], t[q + 2], lo), shuf(t[q], t[q + 2], hi),
              shuf(t[q + 1], t[q + 3], lo), shuf(t[q + 1], t[q + 3], hi)]
    lo, hi = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
    return [shuf(u[m], u[m + 4], lo) for m in range(4)] + \
        [shuf(u[m], u[m + 4], hi) for m in range(4)]


def row_major(shape) -> list[int]:
    """Element strides of a contiguous row-major array of `shape`."""
    out, acc = [0] * len(shape), 1
    for d in reversed(range(len(shape))):
        out[d] = acc
        acc *= shape[d]
    return out


def loop_nest(b: ir.IRBuilder, shape, fn: Callable, idx=(), name: str = "m") -> None:
    """Call fn(list of i64 indices) inside one loop per dimension of `shape` (outermost first)."""
    if len(idx) == len(shape):
        fn(list(idx))
        return
    d = len(idx)
    loop(b, shape[d], lambda i, c: (loop_nest(b, shape, fn, idx + (i,), name), [])[1],
         name=f"{name}{d}")


def offset(b: ir.IRBuilder, idx, strides, base: int = 0) -> ir.Value:
    """base + sum(idx[d] * strides[d]) as an i64 (dimensions of stride 0 cost nothing)."""
    off = i64(base)
    for i, s in zip(idx, strides):
        if s:
            off = b.add(off, b.mul(i, i64(s)))
    return off
