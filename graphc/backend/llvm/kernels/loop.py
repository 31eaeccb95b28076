"""Elementwise and reduce kernels: one loop nest over the iteration shape, vectorised by hand.

A kernel body (a `fused` node's graph, or one plain op wrapped as one) is split into
- uniform nodes: 0-d values that depend on nothing per-element (bias corrections): computed once;
- loop nodes: values of the iteration shape S, computed per element in the main loop nest;
- reductions (the REDUCE class: sum/max over axes R): accumulated in the main loop into their
  result buffers, each op's identity and combine step from the ACCUMULATE table;
- epilogue nodes: values of the reduced shape computed after the reductions, in a second loop.

Adjacent dimensions along which every operand is either contiguous or broadcast merge into one,
so most kernels are a single loop. The innermost loop runs W lanes at a time (8 floats, a ymm
register) with a scalar remainder; reductions along the innermost axis keep vector accumulators
in registers and add them up in a fixed order (results do not depend on the thread count).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import llvmlite.ir as ir
import numpy as np

from ....dtypes import DType
from ....ir import Fusion, fusion_of
from ....ir.ops import FUSIBLE
from ....ir.graph import Graph, Node, Value
from .. import irhelp as H
from .elementwise import convert, lower_elementwise
from . import MAX_TASKS, register_body_kernel

SPLIT_ELEMS = 1 << 15   # an elementwise kernel splits over the pool per this many elements


@dataclass
class Operand:
    """Where a kernel operand or result lives: base pointer (an ir.Value), dtype, shape."""

    ptr: ir.Value | None
    dtype: DType
    shape: tuple
    const: np.ndarray | None = None   # for constants folded into the kernel


def _strides(shape: tuple, full: tuple) -> list[int]:
    """Element strides of a contiguous `shape` right-aligned into `full` (0 where broadcast)."""
    nd = len(full)
    shape = (1,) * (nd - len(shape)) + tuple(shape)
    out, acc = [0] * nd, 1
    for d in reversed(range(nd)):
        out[d] = acc if shape[d] != 1 else 0
        acc *= shape[d]
    return out


def _collapse(full: tuple, stride_sets: list[list[int]], keep: set[int] = frozenset()):
    """Merge adjacent dims where every operand is contiguous-across or broadcast on both."""
    dims = list(full)
    sets = [list(s) for s in stride_sets]
    d = len(dims) - 1
    while d > 0:
        a = d - 1
        ok = a not in keep and d not in keep
        for s in sets:
            sa, sd = s[a], s[d]
            if not ((sa == 0 and sd == 0) or (sd != 0 and sa == sd * dims[d])):
                ok = False
                break
        if ok:
            dims[a] *= dims[d]
            del dims[d]
            for s in sets:
                s[a] = s[d] if s[d] != 0 else 0
                del s[d]
        d -= 1
    return dims, sets


@register_body_kernel(*FUSIBLE, kinds=("elementwise", "reduce"))
class LoopKernel:
    """Emit one elementwise/reduce kernel body into the current function (always one task)."""

    @classmethod
    def tasks(cls, body: Graph) -> int:
        """Pool tasks of this kernel: a purely elementwise one (no reduction, no gather, no 0-d
        result) of at least 2 * SPLIT_ELEMS elements splits its outermost loop into blocks, one
        per SPLIT_ELEMS elements, at most MAX_TASKS; from the shapes alone, and every element
        is computed as it would be unsplit (vector lanes or the scalar remainder), so the bits
        do not depend on the split or the thread count."""
        if any(fusion_of(n) in (Fusion.REDUCE, Fusion.GATHER) for n in body.nodes) or \
                any(v.type.ndim == 0 for v in body.outputs):
            return 1
        size = max((v.type.size for n in body.nodes for v in n.outputs), default=0)
        return max(1, min(MAX_TASKS, size // SPLIT_ELEMS))

    @classmethod
    def panel_bytes(cls, body: Graph, tasks: int) -> int:
        """Arena bytes for packed panels: none."""
        return 0

    def __init__(self, cx_factory, b: ir.IRBuilder, body: Graph,
                 operands: dict[Value, Operand], results: dict[Value, Operand], err: ir.Value,
                 part=None, uniform_only: bool = False, panels=None):
        assert panels is None, "a loop kernel packs no panels"
        self.part, self.uniform_only = part, uniform_only
        self.cx_factory, self.b, self.body = cx_factory, b, body
        self.operands, self.results, self.err = operands, results, err
        reds = [n for n in body.nodes if fusion_of(n) is Fusion.REDUCE]
        self.reductions = reds
        if reds:
            self.S = reds[0].inputs[0].shape
            axes = reds[0].attrs.get("axis")
            self.R = tuple(range(len(self.S))) if axes is None else tuple(axes)
            self.rkeep = tuple(1 if i in self.R else s for i, s in enumerate(self.S))
        else:
            shapes = [v.shape for n in body.nodes for v in n.outputs] or [()]
            self.S = max(shapes, key=lambda s: (int(np.prod(s)), len(s)))
            self.R, self.rkeep = (), None
        self._classify()

    # -- which node runs where ---------------------------------------------------------------
    def _classify(self):
        after_red: set[Value] = set()
        in_loop: set[Value] = set()   # computed inside the loop nest: never an input of a uniform
        self.uniform, self.loop, self.epi = [], [], []
        for n in self.body.nodes:
            if fusion_of(n) is Fusion.SOURCE:
                continue
            deps_red = any(v in after_red for v in n.inputs)
            if fusion_of(n) is Fusion.REDUCE:
                after_red.update(n.outputs)
                continue
            shape = n.outputs[0].shape
            if deps_red or (self.reductions and shape != () and shape != self.S):
                self.epi.append(n)
                after_red.update(n.outputs)
            elif shape == () and self.S != () and all(v.shape == () and v not in in_loop
                                                      for v in n.inputs):
                self.uniform.append(n)
            else:
                self.loop.append(n)
                in_loop.update(n.outputs)

    # -- values ---------------------------------------------------------------------------------
    def _const_value(self, v: Value, w: int):
        arr = v.producer.attrs["value"]
        return H.const(v.dtype, arr.reshape(-1)[0], w)

    def emit(self):
        """Emit the kernel: its uniform scalar ops, then the loop nest with any reductions."""
        b = self.b
        self.uvals: dict[Value, ir.Value] = {}
        cx = self.cx_factory(b, 1)
        for n in self.uniform:
            self.uvals[n.outputs[0]] = lower_elementwise(
                cx, n, [self._uniform_arg(v) for v in n.inputs])
            self._store_uniform_result(n.outputs[0])
        if self.uniform_only:   # the pool's tasks did the loop
            return
        if self.S == ():
            for n in self.loop:
                if fusion_of(n) is Fusion.GATHER:   # a scalar read from a table (a 1-d one)
                    val = self._gather(n, [], H.i64(0), self._uniform_arg(n.inputs[1]))
                else:
                    val = lower_elementwise(cx, n, [self._uniform_arg(v) for v in n.inputs])
                self.uvals[n.outputs[0]] = val
                self._store_uniform_result(n.outputs[0])
            return
        if self.reductions:
            self._init_accumulators()
        self._main_loop()
        if self.reductions:
            self._epilogue()

    def _uniform_arg(self, v: Value) -> ir.Value:
        if v in self.uvals:
            return self.uvals[v]
        if scalar_const(v):
            return self._const_value(v, 1)
        op = self.operands[v]
        return H.load(self.b, op.ptr, v.dtype, H.i64(0))

    def _store_uniform_result(self, v: Value):
        if v in self.results:
            r = self.results[v]
            H.store(self.b, self.uvals[v], r.ptr, v.dtype, H.i64(0))

    # -- the main loop ------------------------------------------------------------------------
    def _width(self, values) -> int:
        if any(fusion_of(n) is Fusion.GATHER for n in self.body.nodes):
            return 1
        big = any(v.dtype.itemsize > 4 for v in values)
        return 4 if big else 8

    def _main_loop(self):
        S = self.S
        loop_vals = [v for n in self.loop for v in n.outputs]
        ext = [v for n in self.loop + self.reductions for v in n.inputs
               if v in self.operands and not scalar_const(v)]
        ext = list(dict.fromkeys(ext))
        outs = [v for v in loop_vals if v in self.results]
        red_outs = [n.outputs[0] for n in self.reductions]
        access = ext + outs + red_outs
        strides = []
        for v in access:
            if v in red_outs:
                strides.append(_strides(self.rkeep, S))
            else:
                strides.append(_strides(v.shape, S))
        has_gather = any(fusion_of(n) is Fusion.GATHER for n in self.loop)
        keep = set(range(len(S))) if has_gather else set()
        red_mask = [1 if d in self.R else 0 for d in range(len(S))]
        dims, sets = _collapse(S, strides + [[m for m in red_mask]], keep)
        red_dims = sets[-1]
        sets = sets[:-1]
        self.strides = dict(zip(access, sets))
        self.dims = dims
        w = self._width(loop_vals + ext + [n.inputs[0] for n in self.reductions])
        inner_reduced = bool(self.reductions) and red_dims[-1] != 0
        self._nest(0, {v: H.i64(0) for v in access}, [], w, inner_reduced)

    def _share(self, n: int, w: int):
        """[lo, hi) of this task's block of the outermost loop's n iterations (everything when
        unsplit); blocks of the innermost loop are whole vectors but for the last."""
        if self.part is None:
            return H.i64(0), H.i64(n)
        b = self.b
        t, tasks = self.part
        chunk = -(-n // tasks)
        if len(self.dims) == 1:
            chunk = -(-chunk // w) * w
        lo = b.mul(t, H.i64(chunk))
        lo = b.select(b.icmp_signed("<", lo, H.i64(n)), lo, H.i64(n))
        hi = b.add(lo, H.i64(chunk))
        return lo, b.select(b.icmp_signed("<", hi, H.i64(n)), hi, H.i64(n))

    def _nest(self, d: int, base: dict, idx: list, w: int, inner_reduced: bool):
        b = self.b
        dims = self.dims
        if d < len(dims) - 1:
            def body(i, carried):
                nb = {v: (b.add(off, b.mul(i, H.i64(self.strides[v][d]))) if self.strides[v][d]
                          else off) for v, off in base.items()}
                self._nest(d + 1, nb, idx + [i], w, inner_reduced)
                return []
            lo, hi = self._share(dims[0], w) if d == 0 else (0, dims[d])
            H.loop(b, hi, body, start=lo, name=f"d{d}")
            return
        n = dims[-1]
        nvec = n // w * w if w > 1 else 0
        if self.part is not None and d == 0:   # one flat loop, split: whole vectors per task
            lo, hi = self._share(n, w)
            vhi = b.select(b.icmp_signed("<", hi, H.i64(nvec)), hi, H.i64(nvec))
            slo = b.select(b.icmp_signed("<", lo, H.i64(nvec)), H.i64(nvec), lo)
            if nvec:
                H.loop(b, vhi, lambda j, c: self._point(base, idx, j, w, None), start=lo, step=w,
                       name="v")
            H.loop(b, hi, lambda j, c: self._point(base, idx, j, 1, None), start=slo, name="s")
            return
        red_outs = [r.outputs[0] for r in self.reductions]
        if inner_reduced:
            accs = [self._identity(r, w) for r in self.reductions]
            if nvec:
                accs = H.loop(b, nvec, lambda j, c: self._point(base, idx, j, w, c), accs,
                              step=w, name="v")
            accs = [self._hreduce(r, a, w) for r, a in zip(self.reductions, accs)] if w > 1 \
                else accs
            if nvec < n:
                accs = H.loop(b, n, lambda j, c: self._point(base, idx, j, 1, c), accs,
                              start=nvec, name="s")
            for r, a in zip(self.reductions, accs):
                v = r.outputs[0]
                ptr = self.results[v].ptr
                off = base[v]
                old = H.load(b, ptr, v.dtype, off)
                H.store(b, self._combine(r, old, a), ptr, v.dtype, off)
        else:
            if nvec:
                H.loop(b, nvec, lambda j, c: self._point(base, idx, j, w, None), step=w, name="v")
            if nvec < n:
                H.loop(b, n, lambda j, c: self._point(base, idx, j, 1, None), start=nvec,
                       name="s")
        del red_outs

    def _point(self, base, idx, j, w, accs):
        """Compute every loop node at inner index j (w lanes); accumulate reductions."""
        b = self.b
        cx = self.cx_factory(b, w)
        vals: dict[Value, ir.Value] = {}

        def offset(v):
            s = self.strides[v][-1]
            off = base[v]
            if s == 0:
                return off, False
            return (b.add(off, j) if s == 1 else b.add(off, b.mul(j, H.i64(s)))), s == 1

        def arg(v: Value) -> ir.Value:
            if v in vals:
                return vals[v]
            if v in self.uvals:
                return H.splat(b, self.uvals[v], w)
            if scalar_const(v):
                return self._const_value(v, w)
            op = self.operands[v]
            off, contiguous = offset(v)
            if contiguous or w == 1:
                x = H.load(b, op.ptr, v.dtype, off, w if contiguous else 1)
                x = x if contiguous else H.splat(b, x, w)
            else:
                x = H.splat(b, H.load(b, op.ptr, v.dtype, off), w)
            vals[v] = x  # read once: a result may be written over it in place (state updates)
            return x

        stores = []
        for n in self.loop:
            f = fusion_of(n)
            if f is Fusion.BROADCAST:  # operands are read with broadcast strides anyway
                vals[n.outputs[0]] = arg(n.inputs[0])
            elif f is Fusion.GATHER:
                vals[n.outputs[0]] = self._gather(n, idx, j, arg(n.inputs[1]))
            else:
                vals[n.outputs[0]] = lower_elementwise(cx, n, [arg(v) for v in n.inputs])
            v = n.outputs[0]
            if v in self.results:
                stores.append(v)
        for v in stores:  # after every read of this element: in-place updates see old values
            off, _ = offset(v)
            H.store(b, vals[v], self.results[v].ptr, v.dtype, off, w)
        if accs is None:
            for r in self.reductions:  # reduction axes not innermost: accumulate in memory
                v = r.outputs[0]
                x = self._to_acc(r, arg(r.inputs[0]))
                off, contiguous = offset(v)
                ptr = self.results[v].ptr
                old = H.load(b, ptr, v.dtype, off, w if contiguous else 1)
                if not contiguous and w > 1:
                    x = self._hreduce(r, x, w)
                H.store(b, self._combine(r, old, x), ptr, v.dtype, off, w if contiguous else 1)
            return []
        return [self._combine(r, a, self._to_acc(r, arg(r.inputs[0])))
                for r, a in zip(self.reductions, accs)]

    def _gather(self, n, idx, j, index_val):
        """x[..., index, ...] with x a kernel input; an out-of-range index sets the error flag.

        The index has x's rank (torch.gather: the loop position is x's, axis aside) or one less
        (the axis dropped); with attrs["wrap"], negative indices count from the end."""
        b = self.b
        x, index = n.inputs
        axis = n.attrs["axis"]
        full = list(idx) + [j]
        if index.type.ndim == x.type.ndim:
            full = full[:axis] + full[axis + 1:]
        xs = _strides(x.shape, x.shape)
        off = H.i64(0)
        k = 0
        for d in range(x.type.ndim):
            if d == axis:
                continue
            off = b.add(off, b.mul(full[k], H.i64(xs[d])))
            k += 1
        ix = index_val if index_val.type == H.I64 else b.sext(index_val, H.I64)
        size = H.i64(x.shape[axis])
        if n.attrs.get("wrap"):
            ix = b.select(b.icmp_signed("<", ix, H.i64(0)), b.add(ix, size), ix)
        bad = b.or_(b.icmp_signed("<", ix, H.i64(0)), b.icmp_signed(">=", ix, size))
        with b.if_then(bad, likely=False):
            b.store(ir.Constant(H.I32, 1), self.err)
        ix = b.select(bad, H.i64(0), ix)
        off = b.add(off, b.mul(ix, H.i64(xs[axis])))
        return H.load(b, self.operands[x].ptr, x.dtype, off)

    # -- reductions -------------------------------------------------------------------------
    def _identity(self, r: Node, w: int):
        dt = r.outputs[0].dtype
        return H.const(dt, _accumulate(r).identity(dt), w)

    def _to_acc(self, r: Node, x):
        """An operand value converted to the accumulator dtype (sum of ints/bools is i64)."""
        src, dt = r.inputs[0].dtype, r.outputs[0].dtype
        if src == dt:
            return x
        w = x.type.count if isinstance(x.type, ir.VectorType) else 1
        return convert(self.b, x, src, dt, w)

    def _combine(self, r: Node, a, x):
        """Combine two values already in the accumulator dtype."""
        return _accumulate(r).combine(self.cx_factory(self.b, 1), r.outputs[0].dtype, a, x)

    def _hreduce(self, r: Node, v, w: int):
        return H.hreduce(self.b, v, w, lambda p, q: self._combine(r, p, q))

    def _init_accumulators(self):
        b = self.b
        for r in self.reductions:
            v = r.outputs[0]
            res = self.results[v]
            size = int(np.prod(v.shape)) if v.shape else 1
            ident = self._identity(r, 1)
            H.loop(b, size, lambda i, c, res=res, v=v, ident=ident:
                   (H.store(b, ident, res.ptr, v.dtype, i), [])[1], name="init")

    # -- epilogue over the reduced shape ------------------------------------------------------
    def _epilogue(self):
        if not self.epi:
            return
        b = self.b
        shape = self.reductions[0].outputs[0].shape  # epilogue values have the result's shape
        produced = {x for m in self.epi for x in m.outputs}
        vals_ext = list(dict.fromkeys(
            v for n in self.epi for v in n.inputs
            if (v in self.operands or v in self.results) and v not in produced
            and not scalar_const(v)))
        outs = [n.outputs[0] for n in self.epi if n.outputs[0] in self.results]
        access = vals_ext + outs
        strides = [_strides(v.shape, shape) for v in access]
        dims, sets = _collapse(shape, strides)
        self.estrides = dict(zip(access, sets))
        edims = dims
        w = 8 if all(v.dtype.itemsize <= 4 for n in self.epi for v in n.outputs) else 4
        if shape == ():
            edims, w = [], 1

        def point(base, j, w):
            cx = self.cx_factory(b, w)
            vals = {}

            def arg(v):
                if v in vals:
                    return vals[v]
                if v in self.uvals:
                    return H.splat(b, self.uvals[v], w)
                if scalar_const(v):
                    return self._const_value(v, w)
                s = self.estrides[v][-1] if self.estrides[v] else 0
                ptr = (self.operands.get(v) or self.results[v]).ptr
                if s == 0:
                    x = H.splat(b, H.load(b, ptr, v.dtype, base[v]), w)
                else:
                    x = H.load(b, ptr, v.dtype, b.add(base[v], j), w)
                vals[v] = x  # read once, before any in-place store of this element
                return x

            stores = []
            for n in self.epi:
                vals[n.outputs[0]] = lower_elementwise(cx, n, [arg(v) for v in n.inputs])
                if n.outputs[0] in self.results:
                    stores.append(n.outputs[0])
            for v in stores:
                s = self.estrides[v][-1] if self.estrides[v] else 0
                off = b.add(base[v], j) if s else base[v]
                H.store(b, vals[v], self.results[v].ptr, v.dtype, off, w if s else 1)
            return []

        def nest(d, base):
            if not edims:
                point(base, H.i64(0), 1)
                return
            if d < len(edims) - 1:
                def body(i, c):
                    nb = {v: (b.add(o, b.mul(i, H.i64(self.estrides[v][d])))
                              if self.estrides[v][d] else o) for v, o in base.items()}
                    nest(d + 1, nb)
                    return []
                H.loop(b, edims[d], body, name=f"e{d}")
                return
            n = edims[-1]
            ww = w if n >= w else 1
            nvec = n // ww * ww if ww > 1 else 0
            if nvec:
                H.loop(b, nvec, lambda j, c: point(base, j, ww), step=ww, name="ev")
            if nvec < n:
                H.loop(b, n, lambda j, c: point(base, j, 1), start=nvec, name="es")
        nest(0, {v: H.i64(0) for v in access})


def is_const(v: Value) -> bool:
    """Whether `v` is a constant's result (a literal array: a global, or inlined if scalar)."""
    return v.producer is not None and fusion_of(v.producer) is Fusion.SOURCE


def scalar_const(v: Value) -> bool:
    """A one-element constant: inlined as an immediate instead of read from memory."""
    return is_const(v) and v.type.size == 1


# ---- how each reduction op accumulates ------------------------------------------------------------

@dataclass(frozen=True)
class Accumulate:
    """A reduction op's accumulator: `identity(dtype)` (a Python scalar) starts it and
    `combine(cx, dtype, a, x)` folds in one value (scalars or vectors in the accumulator dtype)."""

    identity: Callable
    combine: Callable


def _sum_combine(cx, dt: DType, a, x):
    b = cx.b
    return b.fadd(a, x, flags=("reassoc", "contract")) if dt.is_float else b.add(a, x)


def _max_identity(dt: DType):
    if dt.is_bool:
        return 0
    return -np.inf if dt.is_float else np.iinfo(dt.np).min


def _max_combine(cx, dt: DType, a, x):
    b = cx.b
    if dt.is_float:  # llvm.maximum propagates NaN, as np.max
        return b.call(cx.intrinsic("maximum", a.type, 2), [a, x])
    if dt.is_bool or dt.name == "u8":  # unsigned: i1 true is -1 when read as signed
        return b.select(b.icmp_unsigned(">", a, x), a, x)
    return b.select(b.icmp_signed(">", a, x), a, x)


ACCUMULATE: dict[str, Accumulate] = {
    "sum": Accumulate(lambda dt: 0, _sum_combine),
    "max": Accumulate(_max_identity, _max_combine),
}


def _accumulate(r: Node) -> Accumulate:
    try:
        return ACCUMULATE[r.op]
    except KeyError:
        raise NotImplementedError(f"no LLVM accumulator for reduction {r.op}") from None
