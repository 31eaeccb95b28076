"""Simplification: algebraic rewrites (rules as data), constant folding, common-subexpression elimination.

Every rule keeps the node's exact type; rules that would change NaN/Inf behaviour (x*0 -> 0,
x-x -> 0) are deliberately absent.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.ir.interpreter import run_node
from graphc.ir import Builder, Graph, Node, Value
from graphc.ir.graph import tensor_type
from graphc.ir.ops import OPS, Fusion
from graphc.ir.ops.registry import norm_axes

from .dce import dce
from .rewrite import copy_graph_header, finish, rewrite

# ---- predicates ---------------------------------------------------------------------------------


def const(v: Value) -> np.ndarray | None:
    """The value of `v` if a constant node produces it."""
    p = v.producer
    return p.attrs["value"] if p is not None and p.op == "constant" else None


def is_const(v: Value, c: float) -> bool:
    """True if `v` is a non-empty constant whose every element equals `c`."""
    a = const(v)
    return a is not None and a.size > 0 and bool(np.all(a == c))


def producer(v: Value, op: str) -> Node | None:
    """v's producer if it is an `op` node, else None."""
    p = v.producer
    return p if p is not None and p.op == op else None


def _same(v: Value, out: Value) -> Value | None:
    """v, if it can stand for `out` (same shape and dtype)."""
    return v if v.type == out.type else None


# ---- the rules: op -> [(rewrite, algebra)] ---------------------------------------------------------
# a rewrite gets (b, node, *operands) and returns a replacement Value or None


def _pow2_reciprocal(b, n, x, y):
    c = const(y)
    if c is None or c.ndim or c.dtype.kind != "f" or not n.out.dtype.is_float or c == 0:
        return None  # an integer divisor would hold 1/c truncated to 0
    m, _ = math.frexp(float(c))
    if m != 0.5:  # only powers of two: 1/c is then exact
        return None
    with np.errstate(over="ignore"):
        inv = np.asarray(1.0 / float(c), c.dtype)
    if not np.isfinite(inv):  # 1/2^-149 overflows f32: x * inf is not x / 2^-149
        return None
    return _same(b.mul(x, b.const(inv, c.dtype)), n.out)


def _transpose_pair(b, n, x):
    inner = producer(x, "transpose")
    if inner is None:
        return None
    p, q = inner.attrs["perm"], n.attrs["perm"]
    r = tuple(p[i] for i in q)
    y = inner.inputs[0]
    return y if r == tuple(range(len(r))) else b.transpose(y, perm=r)


def _implicit_broadcast(b, n, *xs):
    """op(x, broadcast(y)) -> op(x, y): elementwise ops broadcast on their own."""
    ins = list(xs)
    changed = False
    for i, v in enumerate(ins):
        bp = producer(v, "broadcast")
        if bp is not None:
            trial = ins[:i] + [bp.inputs[0]] + ins[i + 1:]
            try:
                np.broadcast_shapes(*[t.shape for t in trial])
            except ValueError:
                continue
            if tuple(np.broadcast_shapes(*[t.shape for t in trial])) == n.out.shape:
                ins, changed = trial, True
    if not changed:
        return None
    return _same(b.emit(n.op, *ins, **n.attrs), n.out)


def _cast_roundtrip(b, n, x):
    if x.dtype == n.out.dtype:
        return x                                                   # cast(x: T, T) -> x
    inner = producer(x, "cast")
    if inner is not None:
        y = inner.inputs[0]
        exact = {("f32", "f64"), ("i32", "i64"), ("i8", "i32"), ("i8", "i64"), ("u8", "i32"),
                 ("u8", "i64"), ("i32", "f64")}
        if y.dtype == n.out.dtype and (y.dtype.name, x.dtype.name) in exact:
            return y                                               # cast(cast(x, wider), T) -> x
    return None


def _reduce_trivial(b, n, x):
    axes = norm_axes(n.attrs.get("axis"), x.type.ndim)
    if all(x.shape[a] == 1 for a in axes) and x.dtype == n.out.dtype:
        return x if x.shape == n.out.shape else b.reshape(x, shape=n.out.shape)
    return None


def _max_all_through_layout(b, n, x):
    """max of all elements of L(x) -> max of all elements of x, L a reshape or transpose: the
    largest element does not depend on where the elements sit, so a whole-tensor max (an
    observer's min/max of a convolution's output) reads the kernel output in its own layout
    instead of a transposed copy. (Not for sum: reordering changes the rounding.)"""
    p = x.producer
    if p is None or p.op not in ("reshape", "transpose"):
        return None
    if set(norm_axes(n.attrs.get("axis"), x.type.ndim)) != set(range(x.type.ndim)):
        return None
    inner = p.inputs[0]
    while inner.producer is not None and inner.producer.op in ("reshape", "transpose"):
        inner = inner.producer.inputs[0]
    r = b.emit("max", inner, axis=None, keepdims=False)
    return _same(r if r.shape == n.out.shape else b.reshape(r, shape=n.out.shape), n.out)


def _onehot_sum_to_gather(b, n, x):
    """sum(one_hot(t) * x, last axis) -> gather(x, t): cross-entropy written with one-hot."""
    ax = n.attrs.get("axis")
    mul = producer(x, "mul")
    if mul is None or n.attrs.get("keepdims") or ax is None or len(ax) != 1 \
            or ax[0] != x.type.ndim - 1:
        return None
    for hot, other in (mul.inputs, mul.inputs[::-1]):
        c = producer(hot, "cast")
        oh = producer(c.inputs[0] if c else hot, "one_hot")
        if oh is not None and hot.shape == other.shape == x.shape \
                and other.dtype == n.out.dtype:  # a broadcast one-hot does not pick one entry
            return _same(b.gather(other, oh.inputs[0], axis=ax[0]), n.out)
    return None


def _matmul_fold_transpose(b, n, x, y):
    """matmul(transpose(x), y) -> matmul[transpose_a](x, y) when the transpose swaps the last two."""
    attrs = dict(n.attrs)
    ins, changed = [x, y], False
    for i, key in ((0, "transpose_a"), (1, "transpose_b")):
        t = producer(ins[i], "transpose")
        nd = ins[i].type.ndim
        if t is not None and t.attrs["perm"] == tuple(range(nd - 2)) + (nd - 1, nd - 2):
            ins[i] = t.inputs[0]
            attrs[key] = not attrs.get(key, False)
            changed = True
    if not changed:
        return None
    attrs = {k: v for k, v in attrs.items() if v}
    return _same(b.matmul(*ins, **attrs), n.out)


def _unary_through_broadcast(b, n, x):
    """u(broadcast(x)) -> broadcast(u(x)): compute on the small operand."""
    bp = producer(x, "broadcast")
    if bp is None:
        return None
    return _same(b.broadcast(b.emit(n.op, bp.inputs[0], **n.attrs), shape=n.out.shape), n.out)


def _reshape_of_splat(b, n, x):
    """reshape(broadcast(s)) -> broadcast(s') for a one-element s: a splat stays a splat."""
    bp = producer(x, "broadcast")
    if bp is None or bp.inputs[0].type.size != 1:
        return None
    s = bp.inputs[0]
    s = s if s.type.ndim == 0 else b.reshape(s, shape=())
    return b.broadcast(s, shape=n.out.shape)


def _pointwise_before_layout(b, n, *xs):
    """u(L(x), L(y), s) -> L(u(x, y, s)) for a layout op L (a reshape, or a transpose) shared by
    every operand that is not a scalar: a pointwise op commutes with moving its elements, and
    computed on L's operand it can join the kernel that produces it (a convolution's ReLU joins
    its matmul's epilogue instead of running after the transpose to NCHW)."""
    inner, layout = [], None
    for v in xs:
        if v.type.size == 1 and v.type.ndim <= n.out.type.ndim:
            inner.append(None)
            continue
        p = v.producer
        if p is None or p.op not in ("reshape", "transpose") or v.shape != n.out.shape:
            return None
        key = (p.op, p.inputs[0].shape, p.attrs.get("perm"))
        if layout is not None and key != layout:
            return None
        layout = key
        inner.append(p.inputs[0])
    if layout is None:
        return None
    ins = [u if u is not None else (v if v.type.ndim == 0 else b.reshape(v, shape=()))
           for u, v in zip(inner, xs)]
    r = b.emit(n.op, *ins, **n.attrs)
    out = b.reshape(r, shape=n.out.shape) if layout[0] == "reshape" else \
        b.transpose(r, perm=layout[2])
    return _same(out, n.out)


def _placed(v: Value):
    """(piece, lo, hi) if v is a zero pad without interior padding of `piece`, else None."""
    p = producer(v, "pad")
    if p is None or any(p.attrs["interior"]):
        return None
    return p.inputs[0], tuple(p.attrs["lo"]), tuple(p.attrs["hi"])


def _pieces(v: Value, axis: int) -> list[Value]:
    """v's pieces along `axis` when v is a concat there (spliced in), else [v]."""
    p = producer(v, "concat")
    return list(p.inputs) if p is not None and p.attrs["axis"] == axis else [v]


def _sum_of_disjoint_pads(b, n, x, y):
    """pad(a) + pad(c), placed at disjoint ranges of one axis -> pad(concat(a, zeros, c)): the
    gradient of many slices of one tensor (an unrolled recurrence reads x[t] for every t) is
    then one concat, where the sum of full-size pads grew with the square of the count."""
    px, py = _placed(x), _placed(y)
    if px is None or py is None or x.type != n.out.type or y.type != n.out.type:
        return None
    (a, lo_a, hi_a), (c, lo_c, hi_c) = px, py
    axes = [d for d in range(len(lo_a)) if (lo_a[d], hi_a[d]) != (lo_c[d], hi_c[d])]
    if len(axes) != 1:
        return None
    d = axes[0]
    if lo_c[d] < lo_a[d]:
        (a, lo_a, hi_a), (c, lo_c, hi_c) = (c, lo_c, hi_c), (a, lo_a, hi_a)
    gap = lo_c[d] - (lo_a[d] + a.shape[d])
    if gap < 0:
        return None   # they overlap
    pieces = _pieces(a, d)
    if gap:
        shape = list(a.shape)
        shape[d] = gap
        pieces.append(b.zeros(tensor_type(tuple(shape), a.dtype)))
    pieces += _pieces(c, d)
    joined = b.emit("concat", *pieces, axis=d)
    lo, hi = list(lo_a), list(hi_a)
    hi[d] = hi_c[d]
    if not any(lo) and not any(hi):
        return _same(joined, n.out)
    return _same(b.pad(joined, lo=tuple(lo), hi=tuple(hi), interior=(0,) * len(lo)), n.out)


RULES: dict[str, list] = {
    "add": [(lambda b, n, x, y: _same(x, n.out) if is_const(y, 0) else None, "x + 0 -> x"),
            (lambda b, n, x, y: _same(y, n.out) if is_const(x, 0) else None, "0 + x -> x"),
            (_sum_of_disjoint_pads, "pad(a) + pad(c), disjoint -> pad(concat(a, c))")],
    "sub": [(lambda b, n, x, y: _same(x, n.out) if is_const(y, 0) else None, "x - 0 -> x"),
            (lambda b, n, x, y: _same(b.neg(y), n.out) if is_const(x, 0) else None, "0 - x -> -x")],
    "mul": [(lambda b, n, x, y: _same(x, n.out) if is_const(y, 1) else None, "x * 1 -> x"),
            (lambda b, n, x, y: _same(y, n.out) if is_const(x, 1) else None, "1 * x -> x"),
            (lambda b, n, x, y: _same(b.neg(x), n.out) if is_const(y, -1) else None, "x * -1 -> -x")],
    "div": [(lambda b, n, x, y: _same(x, n.out) if is_const(y, 1) else None, "x / 1 -> x"),
            (_pow2_reciprocal, "x / 2^k -> x * 2^-k (exact)")],
    "pow": [(lambda b, n, x, y: _same(x, n.out) if is_const(y, 1) else None, "x ** 1 -> x"),
            (lambda b, n, x, y: _same(b.mul(x, x), n.out) if is_const(y, 2) else None, "x ** 2 -> x * x"),
            (lambda b, n, x, y: _same(b.sqrt(x), n.out) if is_const(y, 0.5) else None,
             "x ** 0.5 -> sqrt x")],
    "neg": [(lambda b, n, x: (producer(x, "neg").inputs[0] if producer(x, "neg") else None),
             "-(-x) -> x")],
    "transpose": [(lambda b, n, x: x if n.attrs["perm"] == tuple(range(x.type.ndim)) else None,
                   "transpose(x, identity) -> x"),
                  (_transpose_pair, "transpose(transpose(x, p), q) -> transpose(x, p.q)")],
    "reshape": [(lambda b, n, x: x if x.shape == n.out.shape else None, "reshape(x, shape x) -> x"),
                (_reshape_of_splat, "reshape(broadcast(s)) -> broadcast(s) for a scalar s"),
                (lambda b, n, x: (b.reshape(producer(x, "reshape").inputs[0], shape=n.out.shape)
                                  if producer(x, "reshape") else None),
                 "reshape(reshape(x)) -> reshape(x)")],
    "broadcast": [(lambda b, n, x: x if x.shape == n.out.shape else None,
                   "broadcast(x, shape x) -> x"),
                  (lambda b, n, x: (b.broadcast(producer(x, "broadcast").inputs[0],
                                                shape=n.out.shape)
                                    if producer(x, "broadcast") else None),
                   "broadcast(broadcast(x)) -> broadcast(x)")],
    "cast": [(_cast_roundtrip, "cast(x: T, T) -> x;  cast(cast(x, wider), T) -> x")],
    "where": [(lambda b, n, c, x, y: _same(x, n.out) if x is y else None, "where(c, x, x) -> x")],
    "sum": [(_reduce_trivial, "sum over size-1 axes -> reshape"),
            (_onehot_sum_to_gather, "sum(one_hot(t) * x, -1) -> gather(x, t)")],
    "max": [(_reduce_trivial, "max over size-1 axes -> reshape"),
            (_max_all_through_layout, "max(L(x), all axes) -> max(x), L a reshape/transpose")],
    "matmul": [(_matmul_fold_transpose, "matmul(transpose(x), y) -> matmul[transpose_a](x, y)")],
}
for _op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
            "ge", "and", "or", "where"):
    RULES.setdefault(_op, []).append((_implicit_broadcast, "op(x, broadcast(y)) -> op(x, y)"))

for _op in ("neg", "exp", "log", "log1p", "sqrt", "rsqrt", "tanh", "erf", "abs", "sign", "floor",
            "not", "cast"):
    RULES.setdefault(_op, []).append((_unary_through_broadcast,
                                      "u(broadcast(x)) -> broadcast(u(x))"))

for _name, _op in OPS.items():
    if _op.fusion is Fusion.ELEMENTWISE and _name != "stop_gradient":  # gone after autodiff
        RULES.setdefault(_name, []).append((_pointwise_before_layout,
                                            "u(L(x), s) -> L(u(x, s)), L a reshape or transpose"))

# identities that hold only once gradients are expanded (they mark where gradients stop/start)
AFTER_AUTODIFF = {
    "stop_gradient": [(lambda b, n, x: x, "stop_gradient(x) -> x (after autodiff)")],
    "custom_vjp": [(lambda b, n, out, *rest: out, "custom_vjp(out, ...) -> out (after autodiff)")],
}


def _root(v: Value) -> Value:
    while v.producer is not None and v.producer.op == "reshape":
        v = v.producer.inputs[0]
    return v


def max_pool_values(g: Graph) -> Graph:
    """gather(x's planes, max_pool_index(x)) -> max_pool(x) where that gather is all that reads
    the index (an inference graph; a training graph's backward scatters at it too): one kernel
    that keeps each window's value instead of an index kernel and a gather."""
    users = g.users()
    kept = set(g.outputs) | set(g.updates.values())
    targets = {}
    for n in g.nodes:
        if n.op != "gather":
            continue
        table, idx = n.inputs
        p = idx.producer
        if p is None or p.op != "max_pool_index" or idx in kept or users.get(idx) != [n]:
            continue
        x = p.inputs[0]
        lead = x.shape[:-2]
        if n.attrs.get("axis") == len(lead) and _root(table) is _root(x) and \
                table.shape == lead + (x.shape[-2] * x.shape[-1],):
            targets[n] = p
    if not targets:
        return g
    out, vmap = copy_graph_header(g)
    for node in g.nodes:
        if node in targets:
            p = targets[node]
            b = Builder(out, node.loc)
            v = b.emit("max_pool", vmap[p.inputs[0]], **p.attrs)
            vmap[node.outputs[0]] = b.reshape(v, shape=node.outputs[0].shape)
            continue
        new = Node(node.op, [vmap[v] for v in node.inputs], node.attrs,
                   [v.type for v in node.outputs], node.loc)
        out.add_node(new)
        vmap.update(zip(node.outputs, new.outputs))
    return dce(finish(g, out, vmap))


def algebraic(g: Graph) -> Graph:
    """Apply RULES until nothing changes (each pass over the graph rebuilds it once)."""
    rules = dict(RULES)
    if not any(n.op == "grad" for n in g.nodes):
        rules.update(AFTER_AUTODIFF)
        g = max_pool_values(g)

    def apply(node: Node, b: Builder):
        for fn, _algebra in rules.get(node.op, ()):
            r = fn(b, node, *node.inputs)
            if r is not None:
                return r
        return None

    for _ in range(20):
        g, changed = rewrite(g, apply)
        g = dce(g)
        if not changed:
            break
    return g


# ---- constant folding ----------------------------------------------------------------------------

FOLD_LIMIT = 4096  # elements: larger results stay computed, so the IR does not fill with data


def fold_constants(g: Graph) -> Graph:
    """Evaluate nodes whose operands are all constants with the interpreter's NumPy rules."""

    def apply(node: Node, b: Builder):
        if node.op in ("constant", "broadcast", "grad") or not node.inputs:
            return None
        vals = [const(v) for v in node.inputs]
        if any(v is None for v in vals) or node.out.type.size > FOLD_LIMIT:
            return None
        try:
            (r,) = run_node(node, vals)
        except Exception:  # noqa: BLE001 - leave failing nodes for run time to report
            return None
        return b.emit("constant", value=r)

    g, _ = rewrite(g, apply)
    return dce(g)


# ---- common-subexpression elimination ----------------------------------------------------------------


def _attr_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_attr_key(x) for x in v)
    if isinstance(v, Graph):
        return ("graph", id(v))
    return v


def cse(g: Graph) -> Graph:
    """Merge nodes computing the same op on the same operands with the same attributes."""
    out, vmap = copy_graph_header(g)
    seen: dict[tuple, Node] = {}
    for node in g.nodes:
        ins = [vmap[v] for v in node.inputs]
        key = (node.op, tuple(id(v) for v in ins),
               tuple(sorted((k, _attr_key(v)) for k, v in node.attrs.items())))
        hit = seen.get(key)
        if hit is not None:
            vmap.update(zip(node.outputs, hit.outputs))
            continue
        new = out.add_node(Node(node.op, ins, node.attrs, [v.type for v in node.outputs], node.loc))
        seen[key] = new
        vmap.update(zip(node.outputs, new.outputs))
    return finish(g, out, vmap)
