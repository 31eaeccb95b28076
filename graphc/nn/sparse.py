"""Embedding layers with torch's semantics: nn.Embedding, nn.EmbeddingBag, F.embedding,
F.embedding_bag.

A lookup is one `take` of weight rows (a native row copy; its gradient a `put` that adds the
rows' gradients in index order, the order of torch's CPU embedding_backward). torch's gradient
rules ride on the looked-up rows without changing their values: the padding_idx rows are
`where(idx == padding_idx, rows.detach(), rows)` (no gradient, as torch skips them) and
scale_grad_by_freq is `rows.detach() + (rows - rows.detach()) * s` with s = 1 / (how often the
row's index occurs in the batch). max_norm renormalises the looked-up rows in place under
no_grad before the lookup, as torch.embedding_renorm_ (inside graphc.compile the weight is graph
state, updated by the step like an optimizer's parameters).

Bags (embedding_bag) need known offsets, which fix each position's bag: sum and mean add the
rows into their bag with one `put` (in input order), max reduces a (bags, longest bag) table of
rows. graphc's gradients are dense: `sparse=True` is accepted and gives the dense gradient
(SparseAdam treats its all-zero rows as absent, as torch treats rows missing from a sparse one).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import dtypes
from .. import functions as G
from .. import math_ops as M
from ..device import check_device
from ..driver import tracing
from ..errors import ExecutionError, TraceError
from ..grad_mode import no_grad
from ..index_ops import _known
from ..linalg import vector_norm
from ..tensor import Tensor, apply, check
from . import init
from .normalization import Retracing
from .parameter import Parameter

__all__ = ["Embedding", "EmbeddingBag", "embedding", "embedding_bag"]


# ---- shared checks and gradient rules -------------------------------------------------------------

def _indices(input, what: str) -> Tensor:
    """`input` as an index tensor: int64 or int32, as torch's embedding requires."""
    idx = G._t(input)
    check(idx.dtype in (dtypes.int64, dtypes.int32),
          f"{what}: expected indices of dtype int64 or int32 (Long, Int), got {idx.dtype}")
    return idx


def _padding_idx(padding_idx, n: int, msg: str) -> int | None:
    """padding_idx in [0, n) (a negative one counts from the end), or None; torch's range check."""
    if padding_idx is None:
        return None
    check(isinstance(padding_idx, numbers.Integral) and not isinstance(padding_idx, bool),
          f"padding_idx must be an int or None, got {padding_idx!r}")
    check(-n <= padding_idx < n, msg)
    return int(padding_idx) % n


def _check_range(idx: Tensor, n: int, what: str) -> None:
    """Known indices outside [0, n) raise now (before max_norm touches the weight); traced ones
    are checked by the take/put kernels, before any state is written."""
    known = _known(idx)
    if known is not None and known.size and (known.min() < 0 or known.max() >= n):
        bad = known[(known < 0) | (known >= n)].ravel()[0]
        raise ExecutionError(f"{what}: index {bad} is out of range for a weight of {n} rows "
                             f"(indices must be in [0, {n})) (at {tracing.user_where()})")


def _renorm_(weight: Tensor, idx: Tensor, max_norm: float, norm_type: float) -> None:
    """torch.embedding_renorm_: each looked-up row whose norm_type-norm exceeds max_norm is
    scaled in place by max_norm / (norm + 1e-7) (computed in float64, then cast, as torch).

    Written through weight.data, so the eager in-place check does not fire for earlier lookups
    (torch's embedding backward does not save weight: two max_norm lookups share a backward)."""
    with no_grad():
        flat = G.reshape(idx, (idx.numel(),))
        rows = apply("take", weight, flat, axis=0)
        norm = G.cast(vector_norm(rows, ord=norm_type, dim=1), dtypes.float64)
        scale = G.cast(float(max_norm) / (norm + 1e-7), weight.dtype)
        scale = G.where(norm > float(max_norm), scale, G.ones_like(scale))
        weight.data.index_copy_(0, flat, rows * G.unsqueeze(scale, 1))


def _counts(idx: Tensor, n: int, dt) -> Tensor:
    """How often each of the n rows occurs in idx, as a float (n,) tensor."""
    flat = G.reshape(idx, (idx.numel(),))
    ones = G.ones((idx.numel(),), dtype=dt)
    return apply("put", G.zeros((n,), dtype=dt), flat, ones, axis=0, accumulate=True)


def _scale_grad(rows: Tensor, idx: Tensor, all_idx: Tensor, n: int) -> Tensor:
    """rows (idx.shape + (D,)) unchanged, their gradient divided by the count of their index in
    all_idx (torch's scale_grad_by_freq)."""
    s = 1.0 / apply("take", _counts(all_idx, n, rows.dtype), idx, axis=0)
    fixed = rows.detach()
    return fixed + (rows - fixed) * G.unsqueeze(s, -1)


def _no_pad_grad(rows: Tensor, idx: Tensor, pad: int) -> Tensor:
    """rows unchanged, with no gradient where idx == pad (torch's embedding_backward skips it)."""
    return G.where(G.unsqueeze(idx == pad, -1), rows.detach(), rows)


# ---- F.embedding ----------------------------------------------------------------------------------

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """torch.nn.functional.embedding: the rows of the 2-D weight at integer indices of any
    shape (result: input.shape + (embedding_dim,)). padding_idx rows get no gradient,
    scale_grad_by_freq divides each row's gradient by its index's count in input, max_norm
    renormalises the looked-up rows of weight in place first. sparse=True gives graphc's dense
    gradient (all-zero rows where torch's sparse one has none)."""
    idx, weight = _indices(input, "embedding"), G._t(weight)
    check(weight.ndim == 2, f"embedding: 'weight' must be 2-D, got {list(weight.shape)}")
    n = weight.shape[0]
    pad = _padding_idx(padding_idx, n, "Padding_idx must be within num_embeddings")
    _check_range(idx, n, "embedding")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    out = apply("take", weight, idx, axis=0)
    if not out.requires_grad:
        return out
    if scale_grad_by_freq:
        out = _scale_grad(out, idx, idx, n)
    return out if pad is None else _no_pad_grad(out, idx, pad)


# ---- F.embedding_bag ------------------------------------------------------------------------------

def _known_offsets(offsets, n_input: int) -> np.ndarray:
    """The offsets' values (int64), checked as torch's; a TraceError if graphc.compile traces
    them (each bag's extent fixes the graph's shapes)."""
    known = _known(offsets)
    if known is None:
        raise TraceError(f"embedding_bag: offsets are a traced tensor ({offsets.type}) at "
                         f"{tracing.user_where()}: the bags' extents fix the graph's shapes, so "
                         "graphc.compile needs their values; pass offsets as a constant (a NumPy "
                         "array or a tensor the function closes over), or use 2-D input for bags "
                         "of one length")
    check(known.dtype.kind in "iu",
          f"embedding_bag: expected offsets of dtype int64 or int32 (Long, Int), got {known.dtype}")
    off = known.astype(np.int64)
    if off.size:
        check(off[0] == 0, f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {off[0]}")
        check(off[-1] <= n_input, f"offsets[-1] can not be greater than input's length "
                                  f"{n_input} but got offsets[-1] of {off[-1]}")
        check(bool(np.all(np.diff(off) >= 0)),
              f"embedding_bag: offsets must be non-decreasing, got {off.tolist()}")
    return off


def _bag_extents(off: np.ndarray, n_input: int, include_last_offset: bool):
    """(starts, ends) of each bag: the last one ends at the input's end, or at the last offset
    with include_last_offset (then positions after it are in no bag, as torch)."""
    if include_last_offset:
        return off[:-1], off[1:]
    return off, np.append(off[1:], n_input).astype(np.int64)


def _bag_inputs(input, offsets, per_sample_weights):
    """(1-D indices, offsets, 1-D per_sample_weights, include_last_offset override) with a
    2-D input read as bags of its row length (offsets must be None), torch's checks."""
    if input.ndim == 2:
        check(offsets is None, "if input is 2D, then offsets has to be None, as input is "
                               "treated is a mini-batch of fixed length sequences. However, "
                               f"found offsets of type {type(offsets)}")
        b, length = input.shape
        flat = G.reshape(input, (b * length,))
        psw = None if per_sample_weights is None else \
            G.reshape(per_sample_weights, (b * length,))
        return flat, np.arange(b, dtype=np.int64) * length, psw, False
    check(input.ndim == 1, f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                           f"{input.ndim}")
    check(offsets is not None, "offsets has to be a 1D Tensor but got None")
    off = offsets if isinstance(offsets, Tensor) else np.asarray(offsets)
    check(off.ndim == 1, "offsets has to be a 1D Tensor")
    return input, off, per_sample_weights, None


def _check_mode(mode: str, scale_grad_by_freq: bool, sparse: bool, psw) -> None:
    check(mode in ("sum", "mean", "max"), "mode has to be one of sum, mean or max")
    if mode == "max":
        check(not scale_grad_by_freq,
              "max mode does not support scaling the gradient by the frequency")
        check(not sparse, "max mode does not support sparse weights")
    check(psw is None or mode == "sum",
          "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
          f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
          "GitHub.")


def _bag_sum(rows, bag_of, n_bags: int, mean_counts) -> Tensor:
    """The rows (K, D) added into their bags (K,) in input order; / max(count, 1) for mean."""
    out = apply("put", G.zeros((n_bags, rows.shape[1]), dtype=rows.dtype), bag_of, rows, axis=0,
                accumulate=True)
    if mean_counts is None:
        return out
    return out / G.unsqueeze(M.clamp_min(mean_counts, 1), 1)


def _bag_max(weight, idx, starts, ends, pad) -> Tensor:
    """Each bag's elementwise max, torch's loop: the first element of a bag, then any larger
    one (ties: the first; a NaN counts only as the bag's first element); empty bags are 0."""
    lengths = ends - starts
    n_bags, longest = len(starts), int(lengths.max(initial=0))
    if n_bags == 0 or longest == 0:
        return G.zeros((n_bags, weight.shape[1]), dtype=weight.dtype)
    cols = np.arange(longest)
    inside = cols < lengths[:, None]                                 # (B, L) static
    pos = np.where(inside, starts[:, None] + cols, 0).astype(np.int64)
    table_idx = apply("take", idx, Tensor(pos), axis=0)               # (B, L)
    valid = Tensor(inside) if pad is None else Tensor(inside) & (table_idx != pad)
    first = G.cumsum(G.cast(valid, dtypes.int64), 1) == 1
    rows = apply("take", weight, table_idx, axis=0)                   # (B, L, D)
    drop = G.unsqueeze(~valid, -1) | (G.unsqueeze(~first, -1) & M.isnan(rows))
    rows = G.where(drop, G.full((), -math.inf, dtype=rows.dtype), rows)
    best = G.max(rows, dim=1)[0]
    some = G.unsqueeze(G.sum(G.cast(valid, dtypes.int64), 1) > 0, 1)
    return G.where(some, best, G.zeros_like(best))


def _bag_psw(per_sample_weights, idx: Tensor, weight: Tensor):
    if per_sample_weights is None:
        return None
    psw = G._t(per_sample_weights)
    check(psw.shape == idx.shape,
          f"embedding_bag: If per_sample_weights ({list(psw.shape)}) is not None, then it must "
          f"have the same shape as the input ({list(idx.shape)})")
    check(psw.dtype == weight.dtype, f"embedding_bag: per_sample_weights ({psw.dtype}) must "
                                     f"have the dtype of weight ({weight.dtype})")
    return psw


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None) -> Tensor:
    """torch.nn.functional.embedding_bag: the sum, mean or max of each bag of embeddings, one
    (embedding_dim,) row per bag. Bags: the rows of a 2-D input, or a 1-D input cut at
    `offsets` (known values; include_last_offset: offsets also holds the end). padding_idx
    entries are left out (and not counted by mean); empty bags give zeros; per_sample_weights
    (mode='sum' only) scale each entry; max's gradient goes to the first maximum, as torch's."""
    input, weight = G._t(input), G._t(weight)
    if weight.dtype in (dtypes.int64, dtypes.int32) and input.dtype.is_float:
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage "
                      "`embedding_bag(weight, input, ...)` is deprecated, and should now be "
                      "`embedding_bag(input, weight, ...)`.", stacklevel=2)
        weight, input = input, weight
    psw = _bag_psw(per_sample_weights, input, weight)
    check(weight.ndim == 2, f"weight has to be a 2D Tensor, but got Tensor of dimension "
                            f"{weight.ndim}")
    idx, offsets, psw, last = _bag_inputs(input, offsets, psw)
    include_last_offset = include_last_offset if last is None else last
    _check_mode(mode, scale_grad_by_freq, sparse, psw)
    idx = _indices(idx, "embedding_bag")
    n, k = weight.shape[0], idx.shape[0]
    pad = _padding_idx(padding_idx, n, f"padding_idx must be within the number of embeddings, "
                                       f"-{n} through {n - 1}, but got {padding_idx}")
    off = _known_offsets(offsets, k)
    _check_range(idx, n, "embedding_bag")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    starts, ends = _bag_extents(off, k, include_last_offset)
    if mode == "max":
        return _bag_max(weight, idx, starts, ends, pad)
    return _bag_sum_mean(weight, idx, starts, ends, pad, mode, scale_grad_by_freq, psw)


def _bag_sum_mean(weight, idx, starts, ends, pad, mode, scale_grad_by_freq, psw) -> Tensor:
    """Sum/mean bags: each kept input position's row (padding ones zeroed, no gradient) added
    into its bag with one put, in input order."""
    k, n = idx.shape[0], weight.shape[0]
    lengths = ends - starts
    bag_of = Tensor(np.repeat(np.arange(len(starts), dtype=np.int64), lengths))
    kept = int(lengths.sum())            # the bags tile input[:kept] (offsets[0] is 0)
    sub = idx if kept == k else idx[:kept]
    rows = apply("take", weight, sub, axis=0)                          # (K, D)
    if scale_grad_by_freq and rows.requires_grad:
        rows = _scale_grad(rows, sub, idx, n)
    is_pad = None if pad is None else G.unsqueeze(sub == pad, 1)
    if is_pad is not None:
        rows = G.where(is_pad, G.zeros_like(rows), rows)
    if psw is not None:
        rows = rows * G.unsqueeze(psw if kept == k else psw[:kept], 1)
    counts = None
    if mode == "mean":
        counts = Tensor(lengths.astype(weight.dtype.np)) if is_pad is None else \
            _bag_sum(G.cast(~is_pad, weight.dtype), bag_of, len(starts), None)[:, 0]
    return _bag_sum(rows, bag_of, len(starts), counts)


# ---- modules --------------------------------------------------------------------------------------

def _new_weight(m, n: int, d: int, _weight, dtype, requires_grad: bool) -> None:
    """m.weight: _weight (shape-checked, memory shared) or N(0, 1) with the padding row 0."""
    for v, name in ((n, "num_embeddings"), (d, "embedding_dim")):
        check(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0,
              f"{type(m).__name__}: {name} must be a non-negative integer, got {v!r}")
    if _weight is None:
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        m.weight = Parameter(np.empty((n, d), np_dt), requires_grad=requires_grad)
        m.reset_parameters()
    else:
        check(list(G._t(_weight).shape) == [n, d],
              "Shape of weight does not match num_embeddings and embedding_dim")
        m.weight = Parameter(_weight, requires_grad=requires_grad)


class _EmbeddingBase(Retracing):
    """What Embedding and EmbeddingBag share: the weight's init and from_pretrained."""

    def reset_parameters(self) -> None:
        """torch's init: weight ~ N(0, 1), then the padding_idx row zeroed."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0


class Embedding(_EmbeddingBase):
    """A lookup table of num_embeddings vectors of embedding_dim, as torch.nn.Embedding (see
    F.embedding; sparse=True gives a dense gradient)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        check_device(device)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_idx(padding_idx, num_embeddings,
                                        "Padding_idx must be within num_embeddings")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        _new_weight(self, num_embeddings, embedding_dim, _weight, dtype, not _freeze)
        self.sparse = sparse

    def forward(self, input) -> Tensor:
        """The embeddings of the indices in input (input.shape + (embedding_dim,))."""
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        """torch's: the sizes, then the arguments that differ from the defaults."""
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is the 2-D `embeddings` (memory shared; frozen unless
        freeze=False), as torch's."""
        shape = G._t(embeddings).shape
        check(len(shape) == 2, "Embeddings parameter is expected to be 2-dimensional")
        return cls(shape[0], shape[1], _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(_EmbeddingBase):
    """Sums, means or maxima of bags of embeddings, as torch.nn.EmbeddingBag (see
    F.embedding_bag; sparse=True gives a dense gradient)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx=None, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _padding_idx(padding_idx, num_embeddings,
                                        "padding_idx must be within num_embeddings")
        _new_weight(self, num_embeddings, embedding_dim, _weight, dtype, True)
        self.mode, self.sparse = mode, sparse
        self.include_last_offset = include_last_offset

    def forward(self, input, offsets=None, per_sample_weights=None) -> Tensor:
        """The reduced bags of input (cut at offsets when 1-D): a (bags, embedding_dim) tensor."""
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                             self.scale_grad_by_freq, self.mode, self.sparse,
                             per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        """torch's: the sizes, the arguments that differ from the defaults, always the mode."""
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is the 2-D `embeddings` (memory shared; frozen unless
        freeze=False), as torch's."""
        shape = G._t(embeddings).shape
        check(len(shape) == 2, "Embeddings parameter is expected to be 2-dimensional")
        bag = cls(shape[0], shape[1], _weight=embeddings, max_norm=max_norm,
                  norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode,
                  sparse=sparse, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag
