"""The matrix products torch has at top level (mm, bmm, mv, dot, inner, outer, addmm, baddbmm,
tensordot, einsum, kron, trace, cross, chain_matmul, cdist, norm, renorm, diag_embed), as matmuls
and views.

Every contraction is the one `matmul` primitive (transposed operands as its attrs, batch dims
broadcast) after transposes and reshapes; a product without a summed index (outer, kron, a
Hadamard einsum) is a broadcast multiply. So each function runs eagerly and compiled and gets
its gradient from the primitives. torch's shape and dtype rules are checked first (the matrix
products refuse mixed dtypes, as torch's do) and raise ShapeError naming the op and shapes.

(Every public name is listed in __all__ and exported from graphc by `from .linalg_ops import *`.)"""
from __future__ import annotations

import math
import numbers

from . import dtypes
from . import functions as F
from . import linalg as LA
from . import shape_ops as S
from .tensor import Tensor, apply, check

__all__ = ["addbmm", "addmm", "addmv", "addr", "baddbmm", "bmm", "cdist", "chain_matmul", "cross",
           "diag_embed", "dot", "einsum", "ger", "inner", "kron", "mm", "mv", "norm", "outer",
           "renorm", "tensordot", "trace", "vdot"]

_t = F._t


def _tn(dt) -> str:
    return dt.torch_name


def _shape(x) -> str:
    return "x".join(map(str, x.shape))


def _no_bool(what: str, *xs: Tensor) -> None:
    check(not any(x.dtype.is_bool for x in xs), f"{what}: not implemented for bool tensors")


def _same_dtype(what: str, *xs: Tensor) -> None:
    dts = [x.dtype for x in xs]
    check(all(d == dts[0] for d in dts),
          f"{what}: expected the operands to have the same dtype, but got "
          f"{', '.join(_tn(d) for d in dts)}")


# ---- products -------------------------------------------------------------------------------------

def mm(input, mat2, *, out=None) -> Tensor:
    """The matrix product of two 2-D tensors of one dtype (torch.mm: no broadcasting)."""
    a, b = _t(input), _t(mat2)
    check(a.ndim == 2, f"mm: self must be a matrix, got shape {list(a.shape)}")
    check(b.ndim == 2, f"mm: mat2 must be a matrix, got shape {list(b.shape)}")
    check(a.shape[1] == b.shape[0],
          f"mm: mat1 and mat2 shapes cannot be multiplied ({_shape(a)} and {_shape(b)})")
    check(a.dtype == b.dtype, f"mm: expected m1 and m2 to have the same dtype, but got: "
                              f"{_tn(a.dtype)} != {_tn(b.dtype)}")
    _no_bool("mm", a)
    return apply("matmul", a, b)


def bmm(input, mat2, *, out=None) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (torch.bmm: no broadcasting)."""
    a, b = _t(input), _t(mat2)
    check(a.ndim == 3, f"bmm: batch1 must be a 3D tensor, got shape {list(a.shape)}")
    check(b.ndim == 3, f"bmm: batch2 must be a 3D tensor, got shape {list(b.shape)}")
    want = [a.shape[0], a.shape[2]]
    check(list(b.shape[:2]) == want, f"bmm: Expected size for first two dimensions of batch2 "
                                     f"tensor to be: {want} but got: {list(b.shape[:2])}.")
    check(a.dtype == b.dtype, f"bmm: expected batch1 and batch2 to have the same dtype, but got "
                              f"{_tn(a.dtype)} and {_tn(b.dtype)}")
    _no_bool("bmm", a)
    return apply("matmul", a, b)


def mv(input, vec, *, out=None) -> Tensor:
    """Matrix (n, m) times vector (m,) (torch.mv)."""
    a, v = _t(input), _t(vec)
    check(a.ndim == 2 and v.ndim == 1, f"mv: vector + matrix @ vector expected, got shapes "
                                       f"{list(a.shape)} and {list(v.shape)}")
    check(a.shape[1] == v.shape[0], f"mv: size mismatch, mat ({_shape(a)}), vec ({_shape(v)})")
    check(a.dtype == v.dtype, f"mv: expected mat and vec to have the same dtype, but got "
                              f"{_tn(a.dtype)} and {_tn(v.dtype)}")
    _no_bool("mv", a)
    # v as one row against the rows of A: matmul's dot form, vectorised along m
    return F.reshape(apply("matmul", F.reshape(v, (1, -1)), a, transpose_b=True), (a.shape[0],))


def dot(input, tensor, *, out=None) -> Tensor:
    """The inner product of two 1-D tensors of equal length and dtype (torch.dot)."""
    a, b = _t(input), _t(tensor)
    check(a.ndim == 1 and b.ndim == 1,
          f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    check(a.shape[0] == b.shape[0], f"dot: inconsistent tensor size, expected tensor "
                                    f"[{a.shape[0]}] and src [{b.shape[0]}] to have the same "
                                    "number of elements")
    check(a.dtype == b.dtype, f"dot: expected both vectors to have same dtype, but found "
                              f"{_tn(a.dtype)} and {_tn(b.dtype)}")
    _no_bool("dot", a)
    row = (1, a.shape[0])
    return F.reshape(apply("matmul", F.reshape(a, row), F.reshape(b, row), transpose_b=True), ())


def vdot(input, other, *, out=None) -> Tensor:
    """dot(conj(input), other); graphc's tensors are real, so torch.dot."""
    return dot(input, other)


def inner(input, other, *, out=None) -> Tensor:
    """Sum over the last dims of both (torch.inner): shape a.shape[:-1] + b.shape[:-1]; a 0-d
    operand multiplies."""
    a, b = _t(input), _t(other)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    check(a.shape[-1] == b.shape[-1], f"inner() the last dimension must match on both input "
                                      f"tensors but got shapes {list(a.shape)} and "
                                      f"{list(b.shape)}")
    check(a.dtype == b.dtype, f"inner: both inputs should have same dtype, got {_tn(a.dtype)} "
                              f"and {_tn(b.dtype)}")
    _no_bool("inner", a)
    k = a.shape[-1]
    res = apply("matmul", F.reshape(a, (math.prod(a.shape[:-1]), k)),
                F.reshape(b, (math.prod(b.shape[:-1]), k)), transpose_b=True)
    return F.reshape(res, a.shape[:-1] + b.shape[:-1])


def _promoted(*xs: Tensor) -> list[Tensor]:
    """xs cast to torch's common dtype (f32 with i64 is f32, not NumPy's f64)."""
    dt = S._promote([x.dtype for x in xs])
    return [F.cast(x, dt) for x in xs]


def outer(input, vec2, *, out=None) -> Tensor:
    """The outer product of two 1-D tensors, a broadcast multiply (torch.outer; dtypes promote)."""
    a, b = _t(input), _t(vec2)
    check(a.ndim == 1, f"outer: Expected 1-D argument self, but got {a.ndim}-D")
    check(b.ndim == 1, f"outer: Expected 1-D argument vec2, but got {b.ndim}-D")
    a, b = _promoted(a, b)
    return F.reshape(a, (a.shape[0], 1)) * F.reshape(b, (1, b.shape[0]))


ger = outer


# ---- beta * input + alpha * product ---------------------------------------------------------------

def _scalar(v, dt, name: str, what: str):
    """beta/alpha converted for a result of dtype dt, as torch: truncated for integers, a bool
    only for bool results."""
    check(isinstance(v, numbers.Number), f"{what}: {name} must be a number, got "
                                         f"{type(v).__name__}")
    if isinstance(v, bool) or dt.is_bool:
        check(dt.is_bool and isinstance(v, (bool, int)) and not isinstance(v, float),
              f"{what}: Boolean {name} only supported for Boolean results.")
        return bool(v)
    return v if dt.is_float else int(v)


def _add_scaled(what: str, input, prod: Tensor, beta, alpha) -> Tensor:
    """beta * input + alpha * prod, input broadcast to prod's shape; beta == 0 ignores input
    (its NaNs included) and alpha == 0 the product, as torch's BLAS-backed kernels."""
    inp = _t(input)
    check(F._broadcastable(inp.shape, prod.shape),
          f"{what}: the input of shape {list(inp.shape)} cannot be broadcast to the result's "
          f"shape {list(prod.shape)}")
    check(inp.dtype == prod.dtype, f"{what}: input and the matrices must have the same dtype, "
                                   f"but got {_tn(inp.dtype)} and {_tn(prod.dtype)}")
    beta, alpha = _scalar(beta, prod.dtype, "beta", what), _scalar(alpha, prod.dtype, "alpha", what)
    if prod.dtype.is_bool:
        term = prod if alpha else None
        base = inp if beta else None
        if term is None and base is None:
            return F.full(prod.shape, False, dtype=dtypes.bool_)
        res = base | term if term is not None and base is not None else (
            term if term is not None else base)
        return F.expand(res, *prod.shape)
    term = None if alpha == 0 else (prod if alpha == 1 else prod * alpha)
    base = None if beta == 0 else (inp if beta == 1 else inp * beta)
    if term is None and base is None:
        return F.zeros_like(prod)
    if term is None:
        return F.expand(base, *prod.shape)
    return term if base is None else term + base


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the result (torch.addmm)."""
    return _add_scaled("addmm", input, mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * (mat @ vec) (torch.addmv)."""
    return _add_scaled("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2) (torch.addr; dtypes promote, bools or/and)."""
    v1, v2 = _t(vec1), _t(vec2)
    check(v1.ndim == 1, f"addr: Expected 1-D argument vec1, but got {v1.ndim}-D")
    check(v2.ndim == 1, f"addr: Expected 1-D argument vec2, but got {v2.ndim}-D")
    inp = _t(input)
    dt = S._promote([inp.dtype, v1.dtype, v2.dtype])
    for name, v in (("beta", beta), ("alpha", alpha)):
        check(dt.is_float or dt.is_bool or not isinstance(v, float),
              f"addr: For integral input tensors, argument {name} must not be a floating point "
              "number.")
    prod = outer(F.cast(v1, dt), F.cast(v2, dt))
    return _add_scaled("addr", F.cast(inp, dt), prod, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2) (torch.baddbmm)."""
    return _add_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * sum_b batch1[b] @ batch2[b] (torch.addbmm), as one matmul whose
    inner dim runs over the batch and the columns together."""
    a, b = _t(batch1), _t(batch2)
    check(a.ndim == 3, f"addbmm: batch1 must be a 3D tensor, got shape {list(a.shape)}")
    check(b.ndim == 3, f"addbmm: batch2 must be a 3D tensor, got shape {list(b.shape)}")
    check(a.shape[0] == b.shape[0], f"addbmm: batch1 and batch2 must have same number of "
                                    f"batches, got {a.shape[0]} and {b.shape[0]}")
    check(a.shape[2] == b.shape[1], f"addbmm: Incompatible matrix sizes for bmm "
                                    f"({a.shape[1]}x{a.shape[2]} and {b.shape[1]}x{b.shape[2]})")
    check(a.dtype == b.dtype, f"addbmm: expected batch1 and batch2 to have the same dtype, but "
                              f"got {_tn(a.dtype)} and {_tn(b.dtype)}")
    _no_bool("addbmm", a)
    nb, n, m = a.shape
    p = b.shape[2]
    a2 = F.reshape(F.permute(a, 1, 0, 2), (n, nb * m))
    prod = apply("matmul", a2, F.reshape(b, (nb * m, p)))
    return _add_scaled("addbmm", input, prod, beta, alpha)


# ---- contractions: tensordot, einsum ----------------------------------------------------------------

def _contract(x: Tensor, lx: list, y: Tensor, ly: list, keep: set) -> tuple[Tensor, list]:
    """Multiply x (labels lx) by y (labels ly), summing the labels in both that are not in
    `keep`: one batched matmul (transposes only where the operand's order needs one), or a
    broadcast multiply when nothing is summed. Labels of size 1 against n broadcast."""
    contract = [lab for lab in lx if lab in ly and lab not in keep]
    batch = [lab for lab in lx if lab in ly and lab in keep]
    m_labs = [lab for lab in lx if lab not in ly]
    n_labs = [lab for lab in ly if lab not in lx]
    for lab in contract:   # size 1 against n: sum the n side first
        sx, sy = x.shape[lx.index(lab)], y.shape[ly.index(lab)]
        if sx != sy:
            if sx == 1:
                y = F.sum(y, ly.index(lab), keepdim=True)
            else:
                x = F.sum(x, lx.index(lab), keepdim=True)
    if not contract:
        xo = _arrange(x, lx, batch + m_labs + [None] * len(n_labs))
        yo = _arrange(y, ly, batch + [None] * len(m_labs) + n_labs)
        xo, yo = (xo, yo) if xo.dtype == yo.dtype else _promoted(xo, yo)
        return xo * yo, batch + m_labs + n_labs
    check(x.dtype == y.dtype, f"expected the operands of a contraction to have the same dtype, "
                              f"got {_tn(x.dtype)} and {_tn(y.dtype)}")
    _no_bool("contraction", x)

    def group(t, labs, order):
        return t if labs == order else F.permute(t, [labs.index(lab) for lab in order])

    def prod(labs, t, all_labs):
        return math.prod(t.shape[all_labs.index(lab)] for lab in labs)
    nb = len(batch)
    ta = lx == batch + contract + m_labs and lx != batch + m_labs + contract
    xa = x if ta else group(x, lx, batch + m_labs + contract)
    xs = xa.shape[:nb] + ((prod(contract, x, lx), prod(m_labs, x, lx)) if ta else
                         (prod(m_labs, x, lx), prod(contract, x, lx)))
    tb = ly == batch + n_labs + contract and ly != batch + contract + n_labs
    yb = y if tb else group(y, ly, batch + contract + n_labs)
    ys = yb.shape[:nb] + ((prod(n_labs, y, ly), prod(contract, y, ly)) if tb else
                         (prod(contract, y, ly), prod(n_labs, y, ly)))
    attrs = {k: True for k, v in (("transpose_a", ta), ("transpose_b", tb)) if v}
    res = apply("matmul", F.reshape(xa, xs), F.reshape(yb, ys), **attrs)
    out_shape = res.shape[:nb] + tuple(x.shape[lx.index(lab)] for lab in m_labs) + \
        tuple(y.shape[ly.index(lab)] for lab in n_labs)
    return F.reshape(res, out_shape), batch + m_labs + n_labs


def _arrange(t: Tensor, labs: list, order: list) -> Tensor:
    """t with its dims in `order` (labels), a size-1 dim wherever order has None."""
    present = [lab for lab in order if lab is not None]
    if labs != present:
        t = F.permute(t, [labs.index(lab) for lab in present])
    it = iter(t.shape)
    return F.reshape(t, tuple(1 if lab is None else next(it) for lab in order))


def tensordot(a, b, dims=2, out=None) -> Tensor:
    """Sum over the last `dims` dims of a and the first of b, or over the given pairs of dims
    (torch.tensordot), as one matmul."""
    a, b = _t(a), _t(b)
    if isinstance(dims, Tensor):
        dims = dims.tolist() if dims.ndim else int(dims.item())
    if isinstance(dims, numbers.Integral):
        check(dims >= 0, f"tensordot expects dims >= 0, but got dims={dims}")
        check(dims <= a.ndim and dims <= b.ndim,
              f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
        names = [(f"{d - a.ndim}", f"{e}") for d, e in zip(da, db)]
    else:
        check(len(dims) == 2, f"tensordot: dims must be an int or a pair of dim lists, got {dims}")
        da, db = ([d] if isinstance(d, numbers.Integral) else list(d) for d in dims)
        check(len(da) == len(db), "tensordot: both dimension lists should have same length")
        names = list(zip(map(str, da), map(str, db)))
        da, db = LA._dims(da, a.ndim, "tensordot") if da else (), \
            LA._dims(db, b.ndim, "tensordot") if db else ()
    for (na, nb), d, e in zip(names, da, db):
        check(a.shape[d] == b.shape[e], f"tensordot: contracted dimensions need to match, but "
                                        f"first has size {a.shape[d]} in dim {na} and second has "
                                        f"size {b.shape[e]} in dim {nb}")
    check(a.dtype == b.dtype, f"tensordot: both inputs should have same dtype, got "
                              f"{_tn(a.dtype)} and {_tn(b.dtype)}")
    la = [("a", i) for i in range(a.ndim)]
    lb = [("b", i) for i in range(b.ndim)]
    for d, e in zip(da, db):
        lb[e] = la[d] = ("k", d)
    return _contract(a, la, b, lb, set())[0]


def _parse_term(term: str, offset: int, what: str) -> tuple[list, bool]:
    """The labels of one einsum term (letters; '...' once) and whether it has an ellipsis."""
    labs, ell, i = [], False, 0
    while i < len(term):
        c = term[i]
        if c == ".":
            check(term[i:i + 3] == "..." and not ell,
                  f"einsum(): found '.' for {what} that is not part of any ellipsis (...)")
            labs.append(...)
            ell, i = True, i + 3
            continue
        check(c.isascii() and c.isalpha(), f"einsum(): invalid subscript given at index "
                                           f"{offset + i} in the equation string, subscripts "
                                           "must be in [a-zA-Z]")
        labs.append(c)
        i += 1
    return labs, ell


def _sublist_equation(args) -> tuple[str, list]:
    """torch's einsum(op0, [0, 1], op1, [1, 2], [0, 2]) form as an equation string."""
    def letters(sub):
        out = ""
        for s in sub:
            if s is Ellipsis:
                out += "..."
                continue
            check(isinstance(s, numbers.Integral) and 0 <= s < 52,
                  "einsum(): subscript in subscript list is not within the valid range [0, 52)")
            out += chr(ord("A") + s) if s < 26 else chr(ord("a") + s - 26)
        return out
    ops = list(args[0::2])
    terms = [letters(s) for s in args[1::2]]
    eq = ",".join(terms[:len(ops)])
    if len(args) % 2:
        ops, eq = ops[:-1], ",".join(terms) + "->" + letters(args[-1])
    return eq, ops


def _label_key(lab):
    """torch's implicit output order: the ellipsis dims, then A-Z, then a-z."""
    return (0, lab[1]) if isinstance(lab, tuple) else (1, lab)


def einsum(*args) -> Tensor:
    """torch.einsum: "ij,jk->ik" (or the sublist form), '...' for broadcast dims, implicit output
    (labels seen once, sorted), a label repeated in one operand takes the diagonal, labels not in
    the output are summed. Operands are contracted left to right, each pair as one batched matmul
    (transposes and reshapes around it) or, with nothing summed, one broadcast multiply."""
    check(len(args) >= 1, "einsum(): must specify the equation string and at least one operand")
    if isinstance(args[0], str):
        eq, ops = args[0], list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
    else:
        eq, ops = _sublist_equation(args)
    ops = [_t(o) for o in ops]
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    check(len(ops) >= len(terms), "einsum(): fewer operands were provided than specified in the "
                                  "equation")
    check(len(ops) <= len(terms), "einsum(): more operands were provided than specified in the "
                                  "equation")
    parsed, offset = [], 0
    for i, term in enumerate(terms):
        parsed.append(_parse_term(term, offset, f"operand {i}"))
        offset += len(term) + 1
    # ellipsis dims get labels ("...", j), right-aligned across operands
    ell_nd = 0
    for i, ((labs, ell), x) in enumerate(zip(parsed, ops)):
        n = len(labs) - ell
        if ell:
            check(n <= x.ndim, f"einsum(): the number of subscripts in the equation ({n}) is more "
                               f"than the number of dimensions ({x.ndim}) for operand {i}")
            ell_nd = max(ell_nd, x.ndim - n)
        else:
            check(n == x.ndim, f"einsum(): the number of subscripts in the equation ({n}) does "
                               f"not match the number of dimensions ({x.ndim}) for operand {i} "
                               "and no ellipsis was given")
    op_labels = []
    for (labs, ell), x in zip(parsed, ops):
        k = x.ndim - (len(labs) - ell)
        full = []
        for lab in labs:
            full += [("...", ell_nd - k + j) for j in range(k)] if lab is ... else [lab]
        op_labels.append(full)
    # sizes: equal or 1 (broadcast); a label repeated in one operand must match exactly
    size: dict = {}
    for i, (labs, x) in enumerate(zip(op_labels, ops)):
        seen = {}
        for lab, s in zip(labs, x.shape):
            if lab in seen:
                check(seen[lab] == s, f"einsum(): subscript {lab} is repeated for operand {i} but "
                                      f"the sizes don't match, {seen[lab]} != {s}")
                continue
            seen[lab] = s
            prev = size.get(lab)
            if prev is None or prev == 1:
                size[lab] = s
            elif s != 1 and s != prev:
                if isinstance(lab, tuple):
                    check(False, f"einsum(): dimension {lab[1]} covered by ellipsis in operand "
                                 f"{i} has size {s} which does not broadcast with previously seen "
                                 f"ellipsis with size {prev} for the respective dimension")
                check(False, f"einsum(): subscript {lab} has size {s} for operand {i} which does "
                             f"not broadcast with previously seen size {prev}")
    ell_labels = [("...", j) for j in range(ell_nd)]
    if arrow:
        out_labs, _ = _parse_term(rhs, len(lhs) + 2, "output")
        out = []
        for lab in out_labs:
            if lab is ...:
                out += ell_labels
                continue
            check(lab in size, f"einsum(): output subscript {lab} does not appear in the "
                               "equation for any input operand")
            check(lab not in out, f"einsum(): output subscript {lab} appears more than once in "
                                  "the output")
            out.append(lab)
    else:
        counts: dict = {}
        for labs in op_labels:
            for lab in labs:
                counts[lab] = counts.get(lab, 0) + 1
        out = ell_labels + sorted((lab for lab, c in counts.items()
                                   if c == 1 and not isinstance(lab, tuple)), key=_label_key)
    # each operand: diagonals of repeated labels, then sum the labels no one else needs
    cur = []
    for i, (x, labs) in enumerate(zip(ops, op_labels)):
        x, labs = _diagonals(x, labs)
        others = set(out).union(*(op_labels[j] for j in range(len(ops)) if j != i))
        x, labs = _sum_labels(x, labs, others)
        cur.append((x, labs))
    x, labs = cur[0]
    for j in range(1, len(cur)):
        y, ly = cur[j]
        keep = set(out).union(*(cur[k][1] for k in range(j + 1, len(cur))))
        x, labs = _sum_labels(x, labs, keep | set(ly))
        y, ly = _sum_labels(y, ly, keep | set(labs))
        x, labs = _contract(x, labs, y, ly, keep)
    x, labs = _sum_labels(x, labs, set(out))
    x = _arrange(x, labs, out)
    want = tuple(size[lab] for lab in out)
    return x if x.shape == want else F.expand(x, *want)


def _diagonals(x: Tensor, labs: list) -> tuple[Tensor, list]:
    """x with each label repeated in it reduced to its diagonal (moved last, as diagonal())."""
    labs = list(labs)
    while len(set(labs)) < len(labs):
        lab = next(lb for lb in labs if labs.count(lb) > 1)
        p = labs.index(lab)
        q = labs.index(lab, p + 1)
        x = S.diagonal(x, 0, p, q)
        labs = [lb for k, lb in enumerate(labs) if k not in (p, q)] + [lab]
    return x, labs


def _sum_labels(x: Tensor, labs: list, keep: set) -> tuple[Tensor, list]:
    axes = [k for k, lab in enumerate(labs) if lab not in keep]
    if not axes:
        return x, labs
    return F.sum(x, axes), [lab for lab in labs if lab in keep]


# ---- structured products ------------------------------------------------------------------------------

def kron(input, other, *, out=None) -> Tensor:
    """The Kronecker product (torch.kron): a broadcast multiply of interleaved views."""
    a, b = _t(input), _t(other)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    a, b = _promoted(a, b)
    a2 = F.reshape(a, tuple(v for s in sa for v in (s, 1)))
    b2 = F.reshape(b, tuple(v for s in sb for v in (1, s)))
    return F.reshape(a2 * b2, tuple(x * y for x, y in zip(sa, sb)))


def trace(input) -> Tensor:
    """The sum of a 2-D tensor's main diagonal (torch.trace; integers sum into int64)."""
    x = _t(input)
    check(x.ndim == 2, f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    _no_bool("trace", x)
    return F.sum(S.diagonal(x, 0, 0, 1))


def cross(input, other, dim=None, *, out=None) -> Tensor:
    """The cross product along `dim` (torch.cross; dim=None: the first dim of size 3)."""
    a = _t(input)
    if dim is None:
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        check(dim is not None, f"cross: no dimension of size 3 in input of shape "
                               f"{list(a.shape)}")
    return LA.cross(a, other, dim=dim)


def chain_matmul(*matrices, out=None) -> Tensor:
    """The product of 2-D matrices in the cheapest order (torch.chain_matmul)."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    check(len(matrices) > 0, "chain_matmul(): Expected one or more matrices")
    ms = [_t(m) for m in matrices]
    for m in ms:
        check(m.ndim == 2, f"chain_matmul(): Tensor dimension is {m.ndim}, expected 2 instead.")
    return ms[0].clone() if len(ms) == 1 else LA.multi_dot(ms)


# ---- distances and norms ----------------------------------------------------------------------------

_CDIST_MODES = {None: 0, "use_mm_for_euclid_dist_if_necessary": 0, "use_mm_for_euclid_dist": 1,
                "donot_use_mm_for_euclid_dist": 2}


def cdist(x1, x2, p: float = 2.0, compute_mode=None) -> Tensor:
    """The p-norm distances between the rows of x1 (.., P, M) and x2 (.., R, M), batch dims
    broadcast (torch.cdist). p=2 with more than 25 rows (or compute_mode="use_mm_for_euclid_dist")
    is torch's matmul expansion |a|^2 + |b|^2 - 2 a.b, clamped at 0; otherwise the norm of the
    differences (p = 0, 1, inf or any p >= 0)."""
    a, b = _t(x1), _t(x2)
    check(compute_mode in _CDIST_MODES, f"cdist: {compute_mode} is not a valid value for "
                                        "compute_mode")
    check(a.ndim >= 2, f"cdist only supports at least 2D tensors, X1 got: {a.ndim}D")
    check(b.ndim >= 2, f"cdist only supports at least 2D tensors, X2 got: {b.ndim}D")
    check(a.shape[-1] == b.shape[-1], f"cdist: X1 and X2 must have the same number of columns. "
                                      f"X1: {a.shape[-1]} X2: {b.shape[-1]}")
    check(a.dtype.is_float, f"cdist only supports floating-point dtypes, X1 got: "
                            f"{_tn(a.dtype)}")
    check(b.dtype.is_float, f"cdist only supports floating-point dtypes, X2 got: "
                            f"{_tn(b.dtype)}")
    check(a.dtype == b.dtype, f"cdist: X1 and X2 must have the same dtype, got {_tn(a.dtype)} "
                              f"and {_tn(b.dtype)}")
    check(p >= 0, "cdist only supports non-negative p values")
    batch = S.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    P, R = a.shape[-2], b.shape[-2]
    mode = _CDIST_MODES[compute_mode]
    if a.numel() and b.numel() and p == 2 and (mode == 1 or (mode == 0 and (P > 25 or R > 25))):
        an = F.sum(a * a, -1, keepdim=True)                          # (.., P, 1)
        bn = F.transpose(F.sum(b * b, -1, keepdim=True), -1, -2)     # (.., 1, R)
        r = apply("matmul", a, b, transpose_b=True) * -2.0 + an + bn
        return LA._safe_sqrt(F.maximum(r, 0.0))
    if a.shape[-1] == 0:   # no coordinates: every distance is 0
        return F.zeros(*batch, P, R, dtype=a.dtype)
    diff = F.unsqueeze(a, -2) - F.unsqueeze(b, -3)                   # (.., P, R, M)
    return LA.vector_norm(diff, p, -1)


def norm(input, p="fro", dim=None, keepdim: bool = False, out=None, dtype=None) -> Tensor:
    """torch.norm: p a number (the vector norm over `dim`, all dims by default), 'fro' (the
    2-norm), or 'nuc' (needs an SVD: NotSupportedError); as torch's dispatch to linalg."""
    check(out is None, "norm: out= is not supported; use the returned tensor")
    x = _t(input)
    dims = [dim] if isinstance(dim, numbers.Integral) else dim
    if isinstance(p, str):
        if p == "fro" and (dim is None or len(dims) <= 2):
            return LA.vector_norm(x, 2, dims, keepdim, dtype=dtype)
        if p == "nuc":
            LA._svd_needed("nuc")
        return LA.matrix_norm(x, p, list(range(x.ndim)) if dims is None else dims, keepdim,
                              dtype=dtype)
    return LA.vector_norm(x, 2.0 if p is None else p, dims, keepdim, dtype=dtype)


def renorm(input, p, dim: int, maxnorm) -> Tensor:
    """Each slice along `dim` whose p-norm exceeds maxnorm scaled to norm maxnorm (torch.renorm:
    factor maxnorm / (norm + 1e-7))."""
    x = _t(input)
    check(x.ndim >= 2, f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    check(p > 0, "renorm: non-positive-norm not supported")
    check(maxnorm >= 0, f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = F._dim(dim, x.ndim)
    nrm = LA.vector_norm(x, p, [i for i in range(x.ndim) if i != d], keepdim=True)
    factor = F.where(nrm > maxnorm, maxnorm / (nrm + 1e-7), 1.0)
    return x * factor


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Tensors whose (dim1, dim2) planes have input's last dim on their offset-th diagonal
    (torch.diag_embed): the last dim zero-padded with a stride and folded into a square."""
    x = _t(input)
    nd = x.ndim + 1
    d1, d2 = F._dim(dim1, nd), F._dim(dim2, nd)
    check(d1 != d2, f"diag_embed: diagonal dimensions cannot be identical {dim1}, {dim2}")
    n, k = (x.shape[-1] if x.ndim else 1), int(offset)
    if x.ndim == 0:
        x = F.reshape(x, (1,))
    m = n + abs(k)
    lead = x.shape[:-1]
    z = (0,) * len(lead)
    if n == 0:
        sq = F.reshape(apply("pad", x, lo=z + (0,), hi=z + (m * m,), interior=z + (0,)),
                       lead + (m, m))
    else:
        lo = k if k >= 0 else -k * m
        hi = m * m - (lo + (n - 1) * (m + 1) + 1)
        flat = apply("pad", x, lo=z + (lo,), hi=z + (hi,), interior=z + (m,))
        sq = F.reshape(flat, lead + (m, m))
    rest = iter(range(len(lead)))
    perm = [len(lead) if i == d1 else len(lead) + 1 if i == d2 else next(rest) for i in range(nd)]
    return F.permute(sq, perm)


# ---- Tensor methods ---------------------------------------------------------------------------------

def _install() -> None:
    T = Tensor
    methods = {"mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot, "inner": inner,
               "outer": outer, "ger": ger, "addmm": addmm, "addmv": addmv, "addr": addr,
               "baddbmm": baddbmm, "addbmm": addbmm, "kron": kron, "trace": trace,
               "cross": cross, "renorm": renorm, "diag_embed": diag_embed,
               "norm": lambda self, p="fro", dim=None, keepdim=False, dtype=None:
                   norm(self, p, dim, keepdim, dtype=dtype)}
    for name, fn in methods.items():
        if name not in T.__dict__:
            setattr(T, name, fn)
    def inplace(f):
        return lambda self, a, b, *, beta=1, alpha=1: \
            self._assign(f(self, a, b, beta=beta, alpha=alpha))
    for name in ("addmm", "addmv", "addr", "baddbmm", "addbmm"):
        if name + "_" not in T.__dict__:
            setattr(T, name + "_", inplace(methods[name]))
    if "renorm_" not in T.__dict__:
        T.renorm_ = lambda self, p, dim, maxnorm: self._assign(renorm(self, p, dim, maxnorm))


_install()
