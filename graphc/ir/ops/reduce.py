"""Reductions: sum, max (fused into loop kernels), argmax, and the scans cumsum and cumprod."""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import NONDIFF, Fusion, norm_axes, reduced_shape, register, require


def _reduce_infer(kind):
    def infer(types, attrs):
        (t,) = types
        require(attrs.get("axis") is None or isinstance(attrs["axis"], (tuple, list)),
                f"axis attr must be None or a tuple, got {attrs.get('axis')!r}")
        axes = norm_axes(attrs.get("axis"), t.ndim)
        require(tuple(attrs.get("axis") or ()) == axes or attrs.get("axis") is None,
                f"axis attr must be a sorted tuple of non-negative ints, got {attrs.get('axis')}")
        if kind == "max":
            require(all(t.shape[a] > 0 for a in axes), f"max of an empty axis of {t}")
            dt = t.dtype
        else:
            dt = t.dtype if t.dtype.is_float else dtypes.int64
        return tensor_type(reduced_shape(t.shape, axes, attrs.get("keepdims", False)), dt)
    return infer


def _sum_ref(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=None if x.dtype.kind == "f" else np.int64)


def _max_ref(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _keep_shape(x, axis):
    axes = norm_axes(axis, x.type.ndim)
    return tuple(1 if i in axes else d for i, d in enumerate(x.shape))


def _sum_vjp(b, g, x, out, axis=None, keepdims=False):
    return (b.broadcast(b.reshape(g, shape=_keep_shape(x, axis)), shape=x.shape),)


def _max_vjp(b, g, x, out, axis=None, keepdims=False):
    # torch's amax rule: the gradient is shared evenly between tied maxima
    keep = _keep_shape(x, axis)
    mask = b.cast(b.eq(x, b.reshape(out, shape=keep)), dtype=x.dtype)
    count = b.sum(mask, axis=norm_axes(axis, x.type.ndim), keepdims=True)
    return (b.mul(mask, b.div(b.reshape(g, shape=keep), count)),)


_RED_SAMPLES = [
    ([("f32", (3, 4), "any")], {"axis": (1,), "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": (0,), "keepdims": True}),
    ([("f32", (2, 3, 4), "any")], {"axis": (0, 2), "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": None, "keepdims": False}),
]
register("sum", "reduce", _reduce_infer("sum"), _sum_ref,
         _RED_SAMPLES + [([("i64", (3, 4), "int:9")], {"axis": (1,), "keepdims": False})],
         _sum_vjp,
         fusion=Fusion.REDUCE)
register("max", "reduce", _reduce_infer("max"), _max_ref,
         _RED_SAMPLES + [([np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)],
                          {"axis": (1,), "keepdims": False})],          # ties
         _max_vjp,
         fusion=Fusion.REDUCE)


def _argmax_infer(types, attrs):
    (t,) = types
    axis = attrs.get("axis")
    keepdims = attrs.get("keepdims", False)
    if axis is None:
        require(t.size > 0, "argmax of an empty tensor")
        return tensor_type((1,) * t.ndim if keepdims else (), dtypes.int64)
    require(isinstance(axis, (int, np.integer)), f"argmax axis must be None or an int, got {axis!r}")
    (a,) = norm_axes(axis, t.ndim)
    require(a == axis, f"argmax axis must be non-negative, got {axis}")
    require(t.shape[a] > 0, f"argmax over an empty axis of {t}")
    return tensor_type(reduced_shape(t.shape, (a,), keepdims), dtypes.int64)


def _argmax_ref(x, axis=None, keepdims=False):
    return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)


register("argmax", "reduce", _argmax_infer, _argmax_ref, [
    ([("f32", (3, 4), "any")], {"axis": 1, "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": 0, "keepdims": True}),
    ([("f32", (3, 4), "any")], {"axis": None, "keepdims": False}),
], NONDIFF)


def check_axis_and_flag(name: str, t, attrs, flag: str) -> None:
    """The attrs of a one-axis op: axis a non-negative int < t.ndim (0 for a 0-d operand) and
    the bool attr `flag` (default False)."""
    axis, value = attrs.get("axis"), attrs.get(flag, False)
    require(isinstance(axis, (int, np.integer)) and not isinstance(axis, bool),
            f"{name} needs an int attr axis, got {axis!r}")
    a = norm_axes(int(axis), t.ndim)[0] if t.ndim else 0
    require(a == axis, f"{name} axis must be non-negative and < {max(t.ndim, 1)}, got {axis}")
    require(isinstance(value, bool), f"{name} attr {flag} must be a bool, got {value!r}")


# cumsum[axis, reverse](x): running sums along one axis (reverse: from the end), torch.cumsum's
# numbers: integer and bool operands sum into int64, and float32 accumulates in float64 and
# rounds each result (as PyTorch's CPU kernel), so results do not drift over long axes.
def _scan_infer(name):
    def infer(types, attrs):
        (t,) = types
        check_axis_and_flag(name, t, attrs, "reverse")
        return tensor_type(t.shape, t.dtype if t.dtype.is_float else dtypes.int64)
    return infer


def _scan_ref(np_scan):
    """The NumPy reference of a scan (np.cumsum, np.cumprod), accumulating as torch's kernel."""
    def ref(x, axis, reverse=False):
        out_dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
        acc_dt = np.float64 if x.dtype.kind == "f" else np.int64
        if x.ndim == 0:
            return x.astype(out_dt)
        if reverse:
            x = np.flip(x, axis)
        y = np_scan(x, axis=axis, dtype=acc_dt).astype(out_dt)
        return np.ascontiguousarray(np.flip(y, axis) if reverse else y)
    return ref


def _cumsum_vjp(b, g, x, out, axis, reverse=False):
    # y_k = sum_{j<=k} x_j  =>  dx_j = sum_{k>=j} g_k: the same scan run the other way
    return (b.emit("cumsum", g, axis=axis, reverse=not reverse),)


register("cumsum", "reduce", _scan_infer("cumsum"), _scan_ref(np.cumsum), [
    ([("f32", (3, 5), "any")], {"axis": 1}),
    ([("f32", (4, 3, 2), "any")], {"axis": 1}),
    ([("f32", (6, 3), "any")], {"axis": 0, "reverse": True}),
    ([("f64", (2, 7), "any")], {"axis": 1}),
    ([("f32", (), "any")], {"axis": 0}),
    ([("i64", (3, 4), "int:9")], {"axis": 1}),
    ([("i32", (5,), "int:9")], {"axis": 0, "reverse": True}),
    ([np.array([True, False, True, True])], {"axis": 0}),
], _cumsum_vjp, doc="running sum along one axis (torch.cumsum)")


# cumprod[axis, reverse](x): running products along one axis, torch.cumprod's numbers: integer and
# bool operands multiply into int64 (wrapping), float32 accumulates in float64 and rounds each
# result (as PyTorch's CPU kernel).

def _cumprod_vjp(b, g, x, out, axis, reverse=False):
    # dx_k = sum_{j>=k} g_j prod_{i<=j, i!=k} x_i (indices counted in the scan's direction), torch's
    # cumprod_backward without a data-dependent branch: before the first zero it is
    # revcumsum(g*y)_k / x_k; at the first zero z it is prod_{i<z} x_i * revcumsum(g * c)_z with
    # c_j = prod_{z<i<=j} x_i; after it, every product holds that zero, so 0.
    scan = {"axis": axis, "reverse": reverse}
    back = {"axis": axis, "reverse": not reverse}
    is_zero = b.eq(x, 0)
    zeros_so_far = b.emit("cumsum", is_zero, **scan)                     # int64
    before = b.eq(zeros_so_far, 0)                                       # no zero up to k
    first = b.emit("and", is_zero, b.eq(zeros_so_far, 1))                # k is the first zero
    one = b.const(1, x.dtype)
    g_before = b.div(b.emit("cumsum", b.mul(g, out), **back), b.where(before, x, one))
    lead = b.emit("cumprod", b.where(before, x, one), **scan)           # prod_{i<z} x_i from z on
    tail = b.emit("cumprod", b.where(b.emit("or", before, first), one, x), **scan)
    g_first = b.mul(lead, b.emit("cumsum", b.mul(g, tail), **back))
    zero = b.zeros(x.type)
    return (b.where(before, g_before, b.where(first, g_first, zero)),)


register("cumprod", "reduce", _scan_infer("cumprod"), _scan_ref(np.cumprod), [
    ([("f32", (3, 5), "any")], {"axis": 1}),
    ([("f32", (4, 3, 2), "any")], {"axis": 1}),
    ([("f32", (6, 3), "any")], {"axis": 0, "reverse": True}),
    ([np.array([[1.5, 0.0, 2.0, -1.0, 0.0, 3.0], [0.0, 2.0, 0.5, 1.0, 2.0, 1.5],
                [2.0, 1.0, -0.5, 3.0, 0.0, 0.0]], np.float32)], {"axis": 1}),   # zeros
    ([np.array([[1.5, 0.0], [0.0, 2.0], [2.0, 3.0], [0.0, 1.0]], np.float64)],
     {"axis": 0, "reverse": True}),
    ([("f64", (2, 7), "any")], {"axis": 1}),
    ([("f32", (), "any")], {"axis": 0}),
    ([("i64", (3, 4), "int:9")], {"axis": 1}),
    ([("i32", (5,), "int:9")], {"axis": 0, "reverse": True}),
    ([np.array([True, False, True, True])], {"axis": 0}),
], _cumprod_vjp, doc="running product along one axis (torch.cumprod)")
