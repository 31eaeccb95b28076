"""Joining, splitting and views (torch.cat, split, flip, roll, diagonal, tril, ...).

Every function here is a composition of existing IR primitives (slice, pad, where, reshape,
broadcast, transpose, gather), so each is eager and compiled alike and gets its gradient from the
primitives' vjps. Joining is `where`-selection of zero-padded pieces (exact, -0.0 kept); reversing
an axis is a gather with a constant reversed index up to 32 long (exact, O(n^2) memory), above that
log2(n) rounds of half swaps (exact, O(n log n)).
"""
from __future__ import annotations

import builtins
import itertools
import operator

import numpy as np

from . import dtypes, qdispatch
from .functions import (
    _dim,
    _shape_arg,
    _t,
    broadcast_to,
    cast,
    expand,
    permute,
    reshape,
    tensor,
    transpose,
    unsqueeze,
    where,
)
from .tensor import Tensor, apply, check, fresh_result

_pymax, _pymin = builtins.max, builtins.min


def _seq(tensors, what: str) -> list:
    if isinstance(tensors, Tensor):
        check(False, f"{what}: expected a sequence of tensors, got a single tensor")
    out = [_t(x) for x in tensors]
    check(len(out) > 0, f"{what}: expected a non-empty sequence of tensors")
    return out


def _shapes(ts) -> str:
    return ", ".join(str(list(t.shape)) for t in ts)


def _promote(dts) -> dtypes.DType:
    """torch's tensor-tensor promotion: the highest category (bool < int < float) wins and only
    dtypes of that category are promoted together (float32 with int64 is float32)."""
    for kind in ("is_float", "is_int"):
        same = [d for d in dts if getattr(d, kind)]
        if same:
            return dtypes.promote(*same)
    return dts[0]


def _narrow(x: Tensor, d: int, start: int, length: int) -> Tensor:
    if start == 0 and length == x.shape[d]:
        return x
    lo = [0] * x.ndim
    hi = list(x.shape)
    lo[d], hi[d] = start, start + length
    return apply("slice", x, start=tuple(lo), stop=tuple(hi), step=(1,) * x.ndim)


def _take(x: Tensor, d: int, idx: np.ndarray) -> Tensor:
    """x's entries at positions `idx` (a constant 1-D integer array) along dim d: the last dim is
    broadcast to one row per output position and one element per row is gathered (exact)."""
    n, m = x.shape[d], len(idx)
    perm = tuple(i for i in range(x.ndim) if i != d) + (d,)
    y = permute(x, perm) if d != x.ndim - 1 else x              # (..., n)
    lead = y.shape[:-1]
    y = broadcast_to(unsqueeze(y, -2), lead + (m, n))            # (..., m, n)
    if isinstance(idx, Tensor):   # a (possibly traced) index tensor: broadcast in the graph
        index = broadcast_to(idx, lead + (m,)) if lead else idx
    else:
        index = tensor(np.ascontiguousarray(np.broadcast_to(idx.astype(np.int64), lead + (m,))))
    out = apply("gather", y, index, axis=len(lead) + 1)          # (..., m)
    if d != x.ndim - 1:
        inv = tuple(int(i) for i in np.argsort(perm))
        out = permute(out, inv)
    return out


# ---- joining --------------------------------------------------------------------------------------

@fresh_result
def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Tensors joined along `dim` (as torch.cat: dtypes promoted, 1-D empty tensors skipped)."""
    check(out is None, "cat: out= is not supported")
    if isinstance(tensors, (list, tuple)) and tensors and qdispatch.quantized(tensors[0]):
        return qdispatch.call("cat", list(tensors), dim)
    ts = _seq(tensors, "cat")
    dt = _promote([t.dtype for t in ts])
    live = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)]
    if not live:
        return cast(ts[0], dt)
    ref = live[0]
    check(ref.ndim > 0, f"cat: zero-dimensional tensor cannot be concatenated (shapes {_shapes(ts)})")
    d = _dim(dim, ref.ndim)
    for t in live:
        check(t.ndim == ref.ndim and t.shape[:d] == ref.shape[:d] and
              t.shape[d + 1:] == ref.shape[d + 1:],
              f"cat: sizes of tensors must match except in dimension {d} (shapes {_shapes(ts)})")
    live = [cast(t, dt) for t in live]
    nonempty = [t for t in live if t.shape[d] > 0]
    if len(nonempty) >= 1 and any(t.shape[d] == 0 and t.requires_grad for t in live):
        # an empty piece's gradient is zeros in torch, not None: keep it in the graph (x * 0
        # would turn inf into NaN, so a zero-size slice of it is padded to nothing instead)
        first = nonempty[0]
        for t in live:
            if t.shape[d] == 0 and t.requires_grad:
                lo = [0] * t.ndim
                hi = [0] * t.ndim
                hi[d] = first.shape[d]
                z = apply("pad", t, lo=tuple(lo), hi=tuple(hi), interior=(0,) * t.ndim)
                nonempty[0] = where(tensor(np.ones((1,) * t.ndim, bool)), nonempty[0], z)
    if len(nonempty) <= 1:
        if nonempty:
            return nonempty[0]
        return live[0]
    return _join(nonempty, d)


def _join(pieces: list, d: int) -> Tensor:
    """Non-empty pieces of one dtype joined along d: one concat primitive (its kernel copies each
    piece's runs into place; its gradient slices the pieces back out)."""
    if len(pieces) == 1:
        return pieces[0]
    return apply("concat", *pieces, axis=d)


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Tensors of one shape joined along a new dim `dim`."""
    ts = _seq(tensors, "stack")
    check(all(t.shape == ts[0].shape for t in ts),
          f"stack: expects each tensor to be equal size (shapes {_shapes(ts)})")
    d = _dim(dim, ts[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in ts], d, out=out)


def _atleast(x, n: int) -> Tensor:
    x = _t(x)
    if x.ndim >= n:
        return x
    if n == 3 and x.ndim == 2:
        return reshape(x, x.shape + (1,))
    if n == 3 and x.ndim == 1:
        return reshape(x, (1,) + x.shape + (1,))
    return reshape(x, (1,) * (n - x.ndim) + x.shape)


def _atleast_fn(n: int):
    def fn(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            return tuple(_atleast(t, n) for t in tensors[0])
        if len(tensors) == 1:
            return _atleast(tensors[0], n)
        return tuple(_atleast(t, n) for t in tensors)
    fn.__name__ = f"atleast_{n}d"
    fn.__doc__ = f"The tensor(s) viewed with at least {n} dims (as torch.atleast_{n}d)."
    return fn


atleast_1d, atleast_2d, atleast_3d = _atleast_fn(1), _atleast_fn(2), _atleast_fn(3)


def hstack(tensors, *, out=None) -> Tensor:
    """Tensors joined column-wise: along dim 0 for 1-D tensors, else dim 1."""
    ts = [_atleast(t, 1) for t in _seq(tensors, "hstack")]
    return cat(ts, 0 if all(t.ndim == 1 for t in ts) else 1, out=out)


def vstack(tensors, *, out=None) -> Tensor:
    """Tensors joined row-wise (1-D tensors become rows)."""
    return cat([_atleast(t, 2) for t in _seq(tensors, "vstack")], 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None) -> Tensor:
    """Tensors joined along the third dim (after atleast_3d)."""
    return cat([_atleast(t, 3) for t in _seq(tensors, "dstack")], 2, out=out)


def column_stack(tensors, *, out=None) -> Tensor:
    """1-D tensors as columns (and 2-D tensors as they are) joined along dim 1."""
    ts = [_t(t) for t in _seq(tensors, "column_stack")]
    ts = [reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts]
    return cat(ts, 1, out=out)


# ---- splitting ------------------------------------------------------------------------------------

def narrow(x, dim: int, start, length: int) -> Tensor:
    """The slice start:start+length of x along `dim` (start may be negative)."""
    x = _t(x)
    check(x.ndim > 0, "narrow: cannot be applied to a 0-dim tensor")
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    start, length = operator.index(start), operator.index(length)
    check(-n <= start <= n, f"narrow: start {start} is out of range for dim {d} of size {n} "
                            f"(shape {list(x.shape)})")
    start = start % n if start < 0 else start
    check(length >= 0 and start + length <= n,
          f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) "
          f"of shape {list(x.shape)}")
    return _narrow(x, d, start, length)


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """x in pieces along `dim`: of size `split_size` (the last one smaller), or of the given sizes."""
    x = _t(x)
    check(x.ndim > 0, "split: expected at least a 1-dimensional tensor")
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = int(split_size_or_sections)
        check(s >= 0, f"split: split_size must be non-negative, got {s}")
        check(s > 0 or n == 0, f"split: split_size can only be 0 if dimension size is 0, "
                               f"but got dimension size of {n}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
        if not sizes:
            sizes = [0]
    else:
        sizes = [operator.index(s) for s in split_size_or_sections]
        check(all(s >= 0 for s in sizes) and builtins.sum(sizes) == n,
              f"split: split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
              f"size at dimension {d} of shape {list(x.shape)}), but got split_sizes={sizes}")
    out, off = [], 0
    for s in sizes:
        out.append(_narrow(x, d, off, s))
        off += s
    return tuple(out)


def split_with_sizes(x, split_sizes, dim: int = 0) -> tuple:
    """x in pieces of the given sizes along `dim`."""
    return split(x, list(split_sizes), dim)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """x in up to `chunks` pieces of size ceil(n / chunks) along `dim` (as torch.chunk)."""
    x = _t(x)
    chunks = operator.index(chunks)
    check(chunks > 0, f"chunk: chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    size = (n + chunks - 1) // chunks
    if size == 0:  # an empty dim: torch returns `chunks` empty pieces
        return tuple(_narrow(x, d, 0, 0) for _ in range(chunks))
    return split(x, size, d)


def tensor_split(x, indices_or_sections, dim: int = 0) -> tuple:
    """x split into n nearly equal pieces (the first n % size larger), or at the given indices."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.numpy().tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        check(k > 0, f"tensor_split: number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        bounds, off = [], 0
        for s in sizes:
            bounds.append((off, off + s))
            off += s
    else:
        idx = [operator.index(i) for i in indices_or_sections]
        edges = [0] + idx + [n]
        bounds = []
        for a, b in itertools.pairwise(edges):
            a = _pymin(_pymax(a + n if a < 0 else a, 0), n)
            b = _pymin(_pymax(b + n if b < 0 else b, 0), n)
            bounds.append((a, _pymax(a, b)))
    return tuple(_narrow(x, d, a, b - a) for a, b in bounds)


def unbind(x, dim: int = 0) -> tuple:
    """The slices of x along `dim`, that dim removed."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    shape = x.shape[:d] + x.shape[d + 1:]
    return tuple(reshape(_narrow(x, d, i, 1), shape) for i in range(x.shape[d]))


def select(x, dim: int, index: int) -> Tensor:
    """x[..., index, ...] at `dim`, that dim removed."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    index = operator.index(index)
    check(-n <= index < n, f"select: index {index} out of range for tensor of size "
                           f"{list(x.shape)} at dimension {d}")
    return reshape(_narrow(x, d, index % n, 1), x.shape[:d] + x.shape[d + 1:])


@fresh_result
def index_select(x, dim: int, index) -> Tensor:
    """The entries of x at positions `index` (a 1-D or 0-D integer tensor, traced or not)
    along `dim`: one `take` (a row copy per index); indices outside [0, size) raise when run."""
    x, index = _t(x), _t(index)
    check(index.ndim <= 1, f"index_select: index must be 0-D or 1-D, got shape {list(index.shape)}")
    check(index.dtype.is_int, f"index_select: index must be an integer tensor, got {index.dtype}")
    if x.ndim == 0:
        return x
    d = _dim(dim, x.ndim)
    return apply("take", x, reshape(index, (index.numel(),)), axis=d)


# ---- reordering -----------------------------------------------------------------------------------

def _dims_arg(dims) -> tuple:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return tuple(dims[0])
    return tuple(dims)


@fresh_result
def flip(x, *dims) -> Tensor:
    """x reversed along each of `dims` (a gather with a constant reversed index: exact)."""
    x = _t(x)
    dims = _dims_arg(dims)
    axes = [_dim(d, x.ndim) for d in dims]
    check(len(set(axes)) == len(axes), f"flip: dims {list(dims)} has duplicates")
    for d in axes:
        n = x.shape[d]
        if 1 < n <= _GATHER_FLIP_MAX:
            x = _take(x, d, np.arange(n - 1, -1, -1))
        elif n > _GATHER_FLIP_MAX:
            x = _reverse_by_halves(x, d)
    return x


_GATHER_FLIP_MAX = 32   # above this, the O(n^2) gather gives way to O(n log n) half swaps


def _reverse_by_halves(x: Tensor, d: int) -> Tensor:
    """x reversed along d: padded to a power of two P, then at every block size b = P/2 ... 1 the
    two halves of each 2b-block swapped (index i -> P-1-i), the padding sliced off the front."""
    n = x.shape[d]
    k = (n - 1).bit_length()
    size = 1 << k
    lo, hi = [0] * x.ndim, [0] * x.ndim
    hi[d] = size - n
    y = apply("pad", x, lo=tuple(lo), hi=tuple(hi), interior=(0,) * x.ndim) if size > n else x
    lead, trail = y.shape[:d], y.shape[d + 1:]
    b = size // 2
    while b >= 1:
        z = reshape(y, lead + (size // (2 * b), 2, b) + trail)
        z = cat([_narrow(z, d + 1, 1, 1), _narrow(z, d + 1, 0, 1)], d + 1)
        y = reshape(z, lead + (size,) + trail)
        b //= 2
    return _narrow(y, d, size - n, n)


@fresh_result
def fliplr(x) -> Tensor:
    """x reversed along dim 1 (at least 2-D)."""
    x = _t(x)
    check(x.ndim >= 2, f"fliplr: input must be >= 2-d, got shape {list(x.shape)}")
    return flip(x, 1)


@fresh_result
def flipud(x) -> Tensor:
    """x reversed along dim 0 (at least 1-D)."""
    x = _t(x)
    check(x.ndim >= 1, f"flipud: input must be >= 1-d, got shape {list(x.shape)}")
    return flip(x, 0)


@fresh_result
def roll(x, shifts, dims=None) -> Tensor:
    """x rotated by `shifts` along `dims` (no dims: over the flattened tensor, shape kept)."""
    x = _t(x)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        check(len(shifts) == 1, f"roll: shifts {list(shifts)} need dims")
        return reshape(roll(reshape(x, (x.numel(),)), shifts, 0), x.shape)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    check(len(shifts) == len(dims), f"roll: shifts {list(shifts)} and dims {list(dims)} must "
                                    "have the same length")
    for s, dim in zip(shifts, dims):
        d = _dim(dim, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s = int(s) % n
        if s:
            x = cat([_narrow(x, d, n - s, s), _narrow(x, d, 0, n - s)], d)
    return x


def movedim(x, source, destination) -> Tensor:
    """x with dims `source` moved to positions `destination`, the others kept in order."""
    x = _t(x)
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    check(len(src) == len(dst), f"movedim: Invalid source or destination dims: source "
                                f"({list(src)} dims) should contain the same number of dims as "
                                f"destination ({list(dst)} dims)")
    src = [_dim(d, x.ndim) for d in src]
    dst = [_dim(d, x.ndim) for d in dst]
    check(len(set(src)) == len(src) and len(set(dst)) == len(dst),
          f"movedim: repeated dim in source {src} or destination {dst}")
    perm = [-1] * x.ndim
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(x.ndim) if i not in src)
    perm = [p if p != -1 else next(rest) for p in perm]
    return x if perm == list(range(x.ndim)) else permute(x, tuple(perm))


moveaxis = movedim


def swapaxes(x, axis0: int, axis1: int) -> Tensor:
    """x with dims axis0 and axis1 swapped (transpose)."""
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def t(x) -> Tensor:
    """A 2-D tensor transposed; 0-D and 1-D tensors as they are."""
    x = _t(x)
    check(x.ndim <= 2, f"t: expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x


# ---- repeating ------------------------------------------------------------------------------------

@fresh_result
def repeat(x, *sizes) -> Tensor:
    """x tiled `sizes[i]` times along each dim (Tensor.repeat; extra leading sizes add dims)."""
    x = _t(x)
    sizes = _shape_arg(sizes)
    check(len(sizes) >= x.ndim, f"repeat: number of dimensions of repeat dims ({len(sizes)}) can "
                                f"not be smaller than number of dimensions of tensor "
                                f"({list(x.shape)})")
    check(all(s >= 0 for s in sizes), f"repeat: negative repeat in {list(sizes)}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    y = reshape(x, shape)
    if all(s == 1 for s in sizes):
        return y
    inter = tuple(v for s in shape for v in (1, s))
    big = tuple(v for r, s in zip(sizes, shape) for v in (r, s))
    y = broadcast_to(reshape(y, inter), big)
    return reshape(y, tuple(r * s for r, s in zip(sizes, shape)))


@fresh_result
def tile(x, dims) -> Tensor:
    """x tiled as numpy.tile: `dims` shorter than x.ndim is padded with leading 1s."""
    x = _t(x)
    dims = _shape_arg((dims,) if isinstance(dims, (int, np.integer)) else tuple(dims))
    dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


def _known(t):
    """The values of `t` if they are known now: eager data, a list, or a traced constant node's."""
    if not isinstance(t, Tensor):
        return np.asarray(t)
    if t._value is None:
        return np.asarray(t.numpy())
    node = t._value.producer
    if node is not None and node.op == "constant":
        return np.asarray(node.attrs["value"])
    return None


@fresh_result
def repeat_interleave(x, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Each element of x repeated `repeats` times along `dim` (None: over the flattened tensor).

    `repeats` may be an int or a tensor of per-element counts; a tensor's values must be known
    when called (eagerly, or as a constant), as torch needs them for the output's shape."""
    x = _t(x)
    if repeats is None:  # torch.repeat_interleave(repeats): indices repeated
        counts = np.asarray(x.numpy()).astype(np.int64).ravel()
        return tensor(np.repeat(np.arange(len(counts)), counts))
    if dim is None:
        x, d = reshape(x, (x.numel(),)), 0
    else:
        d = _dim(dim, x.ndim)
    if isinstance(repeats, Tensor) and repeats.numel() == 1 and _known(repeats) is not None:
        repeats = int(_known(repeats).ravel()[0])
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
        check(r >= 0, f"repeat_interleave: repeats can not be negative, got {r}")
        if r == 1:
            return x
        shape = x.shape[:d + 1] + (1,) + x.shape[d + 1:]
        big = x.shape[:d + 1] + (r,) + x.shape[d + 1:]
        out = x.shape[:d] + (x.shape[d] * r,) + x.shape[d + 1:]
        return reshape(broadcast_to(reshape(x, shape), big), out)
    counts = _known(repeats)
    check(counts is not None, "repeat_interleave: a tensor of repeats must have known values (it "
                              "sets the output's shape): a traced input's are not; pass a constant")
    counts = counts.astype(np.int64).ravel()
    check(len(counts) == x.shape[d], f"repeat_interleave: repeats must have the same size as input "
                                     f"along dim {d} ({len(counts)} vs shape {list(x.shape)})")
    check((counts >= 0).all(), "repeat_interleave: repeats can not be negative")
    return _take(x, d, np.repeat(np.arange(x.shape[d]), counts))


# ---- diagonals and triangles ----------------------------------------------------------------------

def diagonal(x, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of x over dims dim1, dim2 (moved to the last dim), `offset` above the main one."""
    x = _t(x)
    a, b = _dim(dim1, x.ndim), _dim(dim2, x.ndim)
    check(a != b, f"diagonal: dimensions cannot be identical {dim1}, {dim2}")
    rest = tuple(i for i in range(x.ndim) if i not in (a, b))
    y = permute(x, rest + (a, b))
    lead = y.shape[:-2]
    r, c = y.shape[-2:]
    if offset >= 0:
        y = _narrow(y, y.ndim - 1, _pymin(offset, c), c - _pymin(offset, c))
    else:
        y = _narrow(y, y.ndim - 2, _pymin(-offset, r), r - _pymin(-offset, r))
    r, c = y.shape[-2:]
    m = _pymin(r, c)
    if m == 0:
        return reshape(_narrow(reshape(y, lead + (r * c,)), len(lead), 0, 0), lead + (0,))
    y = reshape(_narrow(y, y.ndim - 2, 0, m), lead + (m * c,))
    start = (0,) * len(lead) + (0,)
    stop = lead + ((m - 1) * (c + 1) + 1,)
    step = (1,) * len(lead) + (c + 1,)
    return apply("slice", y, start=start, stop=stop, step=step)


def diag(x, diagonal: int = 0) -> Tensor:
    """A 1-D x as the `diagonal`-th diagonal of a square matrix; a 2-D x's diagonal."""
    x = _t(x)
    check(x.ndim in (1, 2), f"diag: matrix or a vector expected, got shape {list(x.shape)}")
    k = int(diagonal)
    if x.ndim == 2:
        return globals()["diagonal"](x, k, 0, 1)
    n = x.shape[0]
    size = n + builtins.abs(k)
    if n == 0:
        return reshape(apply("pad", x, lo=(0,), hi=(size * size,), interior=(0,)), (size, size))
    lo = k if k >= 0 else -k * size
    hi = size * size - (lo + (n - 1) * (size + 1) + 1)
    flat = apply("pad", x, lo=(lo,), hi=(hi,), interior=(size,))
    return reshape(flat, (size, size))


def _tri(x, k: int, lower: bool, what: str) -> Tensor:
    x = _t(x)
    check(x.ndim >= 2, f"{what}: input tensor must have at least 2 dimensions, got shape "
                       f"{list(x.shape)}")
    r, c = x.shape[-2:]
    mask = np.tri(r, c, k, dtype=bool) if lower else ~np.tri(r, c, k - 1, dtype=bool)
    zero = False if x.dtype is dtypes.bool_ else 0
    return where(tensor(mask), x, zero)


def tril(x, diagonal: int = 0) -> Tensor:
    """x with the entries above the `diagonal`-th diagonal zeroed (the last two dims)."""
    return _tri(x, int(diagonal), True, "tril")


def triu(x, diagonal: int = 0) -> Tensor:
    """x with the entries below the `diagonal`-th diagonal zeroed (the last two dims)."""
    return _tri(x, int(diagonal), False, "triu")


# ---- views ----------------------------------------------------------------------------------------

def squeeze(x, dim=None) -> Tensor:
    """x without its size-1 dims: all of them, or those of `dim` (an int or a tuple) of size 1."""
    x = _t(x)
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    drop = {_dim(d, x.ndim) for d in dims} if x.ndim else set()
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in drop and s == 1)))


def unflatten(x, dim: int, sizes) -> Tensor:
    """x with dim `dim` split into `sizes` (one of them may be -1)."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    sizes = list(_shape_arg(tuple(sizes)))
    check(len(sizes) > 0, "unflatten: sizes must be non-empty")
    if -1 in sizes:
        known = int(np.prod([s for s in sizes if s != -1]))
        check(sizes.count(-1) == 1 and known > 0 and x.shape[d] % known == 0,
              f"unflatten: sizes {sizes} do not fit dim {d} of shape {list(x.shape)}")
        sizes[sizes.index(-1)] = x.shape[d] // known
    check(int(np.prod(sizes)) == x.shape[d],
          f"unflatten: provided sizes {sizes} don't multiply up to the size of dim {d} "
          f"({x.shape[d]}) in the input tensor of shape {list(x.shape)}")
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def broadcast_shapes(*shapes) -> tuple:
    """The shape that `shapes` broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) if not isinstance(s, int) else (s,)
                                           for s in shapes]))
    except ValueError:
        check(False, f"broadcast_shapes: shapes {[list(s) for s in shapes]} cannot be broadcast")


def broadcast_tensors(*tensors) -> tuple:
    """The tensors broadcast to one shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [_t(t) for t in tensors]
    try:
        shape = tuple(np.broadcast_shapes(*[t.shape for t in ts]))
    except ValueError:
        check(False, f"broadcast_tensors: shapes {_shapes(ts)} cannot be broadcast")
    return tuple(t if t.shape == shape else expand(t, *shape) for t in ts)


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids of 1-D tensors ('ij': matrix indexing, 'xy': Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [_t(t) for t in tensors]
    check(indexing in ("ij", "xy"), f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    check(all(t.ndim <= 1 for t in ts), f"meshgrid: expects 0D or 1D tensors (shapes {_shapes(ts)})")
    ts = [reshape(t, (t.numel(),)) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        out.append(expand(reshape(t, tuple(view)), *shape))
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


# ---- F.pad ----------------------------------------------------------------------------------------

@fresh_result
def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """x padded as torch.nn.functional.pad: `pad` pairs (left, right) from the last dim backwards;
    modes 'constant' (value=, negative pads crop), 'reflect', 'replicate', 'circular'."""
    x = _t(input)
    pads = [operator.index(p) for p in pad]
    check(len(pads) % 2 == 0 and len(pads) // 2 <= x.ndim,
          f"pad: padding length {len(pads)} must be even and at most twice the number of dims "
          f"of shape {list(x.shape)}")
    check(mode in ("constant", "reflect", "replicate", "circular"),
          f"pad: unsupported padding mode {mode!r}")
    check(mode == "constant" or value in (None, 0), f"pad: padding mode {mode!r} doesn't take "
                                                     "in value argument")
    pairs = [(x.ndim - 1 - i, pads[2 * i], pads[2 * i + 1]) for i in range(len(pads) // 2)]
    if mode == "constant":
        for d, l, r in pairs:   # negative pads crop first
            if l < 0 or r < 0:
                n = x.shape[d]
                a, b = _pymax(-l, 0), _pymax(-r, 0)
                check(a + b <= n, f"pad: cropping {a} + {b} from dim {d} of shape {list(x.shape)}")
                x = _narrow(x, d, a, n - a - b)
        lo, hi = [0] * x.ndim, [0] * x.ndim
        for d, l, r in pairs:
            lo[d], hi[d] = _pymax(l, 0), _pymax(r, 0)
        if not any(lo) and not any(hi):
            return x
        out = apply("pad", x, lo=tuple(lo), hi=tuple(hi), interior=(0,) * x.ndim)
        if value is not None and value != 0:
            mask = np.zeros(out.shape, bool)
            mask[tuple(slice(a, a + n) for a, n in zip(lo, x.shape))] = True
            if not x.dtype.is_float:   # torch casts value to x's dtype (2.7 -> 2 for ints)
                value = tensor(np.asarray(value).astype(x.dtype.np))
            out = where(tensor(mask), out, value)
        return out
    for d, l, r in pairs:
        n = x.shape[d]
        check(l >= 0 and r >= 0, f"pad: negative padding {(l, r)} is not supported in mode {mode!r}")
        if not l and not r:
            continue
        if mode == "reflect":
            check(l < n and r < n, f"pad: padding size should be less than the corresponding input "
                                   f"dimension, but got padding ({l}, {r}) at dimension {d} of "
                                   f"input {list(x.shape)}")
            left = flip(_narrow(x, d, 1, l), d) if l else None
            right = flip(_narrow(x, d, n - 1 - r, r), d) if r else None
        elif mode == "replicate":
            check(n > 0, f"pad: replicate padding of an empty dim {d} of shape {list(x.shape)}")
            left = repeat_interleave(_narrow(x, d, 0, 1), l, d) if l else None
            right = repeat_interleave(_narrow(x, d, n - 1, 1), r, d) if r else None
        else:
            check(l <= n and r <= n, f"pad: padding value causes wrapping around more than once "
                                     f"(padding ({l}, {r}) at dim {d} of shape {list(x.shape)})")
            left = _narrow(x, d, n - l, l) if l else None
            right = _narrow(x, d, 0, r) if r else None
        x = cat([p for p in (left, x, right) if p is not None], d)
    return x


def sliding_windows(x, dimension: int, size: int, step: int) -> Tensor:
    """Tensor.unfold(dimension, size, step): every window of `size` elements along `dimension`,
    `step` apart, as a new last axis (torch's shape; a copy here, not a view: writing into it
    leaves x unchanged). One take of the windows' positions, then a reshape and a move."""
    x = _t(x)
    if x.ndim == 0:
        check(dimension in (0, -1) and size <= 1 and step > 0,
              f"unfold: a 0-d tensor has one window of size 1, got size {size}, step {step}")
        return reshape(x, (1,))
    d = _dim(dimension, x.ndim)
    n_in = x.shape[d]
    check(step > 0, f"unfold: step must be positive, got {step}")
    check(0 <= size <= n_in, f"unfold: maximum size for tensor at dimension {d} is {n_in} but "
                             f"size is {size}")
    n = (n_in - size) // step + 1
    pos = (np.arange(n)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    y = index_select(x, d, Tensor(pos.astype(np.int64)))
    y = reshape(y, x.shape[:d] + (n, size) + x.shape[d + 1:])
    return movedim(y, d + 1, -1)


# ---- Tensor methods -------------------------------------------------------------------------------

def _install_methods() -> None:
    names = ["select", "index_select", "split", "chunk", "tensor_split", "unbind", "narrow", "flip", "fliplr", "flipud",
             "roll", "movedim", "moveaxis", "swapaxes", "swapdims", "t", "repeat", "tile",
             "repeat_interleave", "diagonal", "diag", "tril", "triu", "squeeze", "unflatten",
             "split_with_sizes"]
    for name in names:
        setattr(Tensor, name, globals()[name])
    Tensor.tril_ = lambda self, diagonal=0: self._assign(tril(self, diagonal))
    Tensor.triu_ = lambda self, diagonal=0: self._assign(triu(self, diagonal))
    Tensor.broadcast_to = lambda self, *shape: broadcast_to(self, _shape_arg(shape))
    Tensor.expand_as = lambda self, other: expand(self, *other.shape)
    Tensor.view_as = lambda self, other: reshape(self, other.shape)
    Tensor.reshape_as = Tensor.view_as
    Tensor.unfold = sliding_windows


_install_methods()
