"""Small llvmlite.ir helpers: types per dtype and vector width, loads/stores, splats, loops.

Kernels are written against these so they read as their math (Numba's cgutils does the same).
"""
from __future__ import annotations

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


# GRAPHC_BOUNDS_CHECK=1: codegen registers each kernel buffer's element count here; every load
# and store through a registered pointer then checks its index (error code 2, access clamped)
BOUNDS: dict = {}


def _checked(b: ir.IRBuilder, ptr: ir.Value, index: ir.Value, w: int) -> ir.Value:
    entry = BOUNDS.get(id(ptr))
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
    if BOUNDS:
        index = _checked(b, ptr, index, w)
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
    if BOUNDS:
        index = _checked(b, ptr, index, w)
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
