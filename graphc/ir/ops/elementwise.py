"""Elementwise primitives: unary math (incl. the trigonometric and hyperbolic family), binary
arithmetic/comparisons, integer bitwise ops and shifts, where, cast, stop_gradient."""
from __future__ import annotations

import math

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import (NONDIFF, broadcast_shapes, promote, promote_types, register, require,
                       same_shape_type)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erf_ref(x):
    return _erf(x).astype(x.dtype)


def _float_unary(name):
    def infer(types, attrs):
        (t,) = types
        require(t.dtype.is_float, f"{name} needs a float operand, got {t.dtype}; use .float() first")
        return t
    return infer


def _any_unary(types, attrs):
    (t,) = types
    return t


def _numeric_unary(types, attrs):
    (t,) = types
    require(not t.dtype.is_bool, "needs a numeric operand, got bool")
    return t


def _bool_unary(types, attrs):
    (t,) = types
    require(t.dtype.is_bool, f"needs a bool operand, got {t.dtype}")
    return t


def _f(shape=(3, 4), domain="any"):
    return ("f32", shape, domain)


# name: (shape rule, NumPy reference, sample domain, gradient rule)   # d/dx
UNARY = {
    "neg":    (_numeric_unary, np.negative, "any", lambda b, g, x, out: (b.neg(g),)),
    "exp":    (_float_unary("exp"), np.exp, "any", lambda b, g, x, out: (b.mul(g, out),)),   # e^x
    "log":    (_float_unary("log"), np.log, "pos", lambda b, g, x, out: (b.div(g, x),)),    # 1/x
    "log1p":  (_float_unary("log1p"), np.log1p, "pos",
               lambda b, g, x, out: (b.div(g, b.add(x, 1)),)),                              # 1/(1+x)
    "sqrt":   (_float_unary("sqrt"), np.sqrt, "pos",
               lambda b, g, x, out: (b.div(b.mul(g, 0.5), out),)),                          # 1/(2 sqrt x)
    "rsqrt":  (_float_unary("rsqrt"), lambda x: (1 / np.sqrt(x)).astype(x.dtype), "pos",
               lambda b, g, x, out: (b.mul(b.mul(g, -0.5), b.div(out, x)),)),              # -x^-3/2 / 2
    "tanh":   (_float_unary("tanh"), np.tanh, "any",
               lambda b, g, x, out: (b.mul(g, b.sub(1, b.mul(out, out))),)),                # 1 - tanh^2
    "erf":    (_float_unary("erf"), _erf_ref, "any",
               lambda b, g, x, out: (b.mul(g, b.mul(2 / math.sqrt(math.pi),
                                                    b.exp(b.neg(b.mul(x, x))))),)),         # 2/sqrt(pi) e^-x^2
    "abs":    (_numeric_unary, np.abs, "any", lambda b, g, x, out: (b.mul(g, b.sign(x)),)),  # sign x
    "sign":   (_numeric_unary, np.sign, "any", NONDIFF),
    "floor":  (_float_unary("floor"), np.floor, "any", NONDIFF),
    "not":    (_bool_unary, np.logical_not, "bool", NONDIFF),
    "stop_gradient": (_any_unary, lambda x: x, "any", NONDIFF),
}

for _name, (_infer, _ref, _dom, _vjp) in UNARY.items():
    _dt = "bool" if _dom == "bool" else "f32"
    register(_name, "elementwise", _infer, _ref, [([(_dt, (3, 4), _dom)],), ([(_dt, (), _dom)],)],
             _vjp)


def _via_f64(fn):
    """fn computed in float64 and rounded: float32 results are then correctly rounded (within
    0.5 ulp, where torch's SLEEF kernels are within 1), float64 ones fn's own."""
    def ref(x):
        return fn(x.astype(np.float64)).astype(x.dtype) if x.dtype == np.float32 else fn(x)
    return ref


_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_GT1 = np.array([[1.2, 3.0, 1.01, 7.5], [2.0, 1.5, 40.0, 1.1], [5.0, 1.3, 2.5, 9.0]], np.float32)

# the trigonometric and hyperbolic family (torch's formulas for the gradients):
# name: (NumPy function, sample operand spec, gradient rule)          # d/dx
TRIG = {
    "sin": (np.sin, "any", lambda b, g, x, out: (b.mul(g, b.cos(x)),)),               # cos x
    "cos": (np.cos, "any", lambda b, g, x, out: (b.neg(b.mul(g, b.sin(x))),)),        # -sin x
    "tan": (np.tan, "any",
            lambda b, g, x, out: (b.mul(g, b.add(b.mul(out, out), 1)),)),             # 1 + tan^2
    "asin": (np.arcsin, "unit",
             lambda b, g, x, out: (b.mul(g, b.rsqrt(b.sub(1, b.mul(x, x)))),)),       # (1-x^2)^-.5
    "acos": (np.arccos, "unit",
             lambda b, g, x, out: (b.neg(b.mul(g, b.rsqrt(b.sub(1, b.mul(x, x))))),)),  # -(...)
    "atan": (np.arctan, "any",
             lambda b, g, x, out: (b.div(g, b.add(b.mul(x, x), 1)),)),                # 1/(1+x^2)
    "sinh": (np.sinh, "any", lambda b, g, x, out: (b.mul(g, b.cosh(x)),)),            # cosh x
    "cosh": (np.cosh, "any", lambda b, g, x, out: (b.mul(g, b.sinh(x)),)),            # sinh x
    "asinh": (np.arcsinh, "any",
              lambda b, g, x, out: (b.mul(g, b.rsqrt(b.add(b.mul(x, x), 1))),)),      # (x^2+1)^-.5
    "acosh": (np.arccosh, _GT1,
              lambda b, g, x, out: (b.mul(g, b.rsqrt(b.sub(b.mul(x, x), 1))),)),      # (x^2-1)^-.5
    "atanh": (np.arctanh, "unit",
              lambda b, g, x, out: (b.div(g, b.sub(1, b.mul(x, x))),)),               # 1/(1-x^2)
    "erfc": (_erfc, "any",                                                            # -2/sqrt(pi)
             lambda b, g, x, out: (b.mul(g, b.mul(-2 / math.sqrt(math.pi),           # * e^-x^2
                                                  b.exp(b.neg(b.mul(x, x))))),)),
}

# NumPy's own float32 kernels measured within 1.4 ulp of the correctly rounded value (torch's
# within 1): used as they are; tan, asin, acos, cosh (2-3 ulp) and atan2 (3.2) go through
# float64, which costs 3-15x more per element (sin and cos would cost 30x: NumPy's float64 path
# is slow there)
_NUMPY_F32_OK = {"sin", "cos", "atan", "sinh", "asinh", "acosh", "atanh"}

for _name, (_fn, _spec, _vjp) in TRIG.items():
    _arg = _spec if isinstance(_spec, np.ndarray) else ("f32", (3, 4), _spec)
    _arg0 = np.array(_spec[0, 0]) if isinstance(_spec, np.ndarray) else ("f32", (), _spec)
    register(_name, "elementwise", _float_unary(_name),
             _fn if _name in _NUMPY_F32_OK else _via_f64(_fn),
             [([_arg],), ([_arg0],), ([_spec.astype(np.float64) if isinstance(_spec, np.ndarray)
                                       else ("f64", (5,), _spec)],)], _vjp)


def _int_unary(types, attrs):
    (t,) = types
    require(t.dtype.is_int, f"needs an integer operand, got {t.dtype} (bool tensors use `not`)")
    return t


# ~x on integers (two's complement: -x - 1); bool tensors use `not`
register("bitwise_not", "elementwise", _int_unary, np.invert,
         [([np.array([[0, 1, -1, 7], [-128, 127, 2**40, -(2**62)]], np.int64)],),
          ([np.array([0, 1, 200, 255], np.uint8)],), ([("i32", (3,), "any")],)], NONDIFF)


def _binary_arith(types, attrs):
    a, b = types
    dt = promote_types(a, b)
    return tensor_type(broadcast_shapes(a.shape, b.shape), dt)


def _sub_infer(types, attrs):
    # NumPy and torch refuse bool - bool (the ref would raise at run time)
    require(not all(t.dtype.is_bool for t in types), "needs numeric operands, got bool and bool; "
            "use xor (ne) for booleans")
    return _binary_arith(types, attrs)


def _binary_float(types, attrs):
    t = _binary_arith(types, attrs)
    require(t.dtype.is_float, f"needs float operands, got {types[0].dtype} and {types[1].dtype}; "
                              "cast with .float() first")
    return t


def _via_f64_2(fn):
    """Binary fn computed in float64 and rounded to float32 (see _via_f64)."""
    def ref(x, y):
        if x.dtype == np.float32 and np.result_type(x, y) == np.float32:
            return fn(x.astype(np.float64), y.astype(np.float64)).astype(np.float32)
        return fn(x, y)
    return ref


def _compare(types, attrs):
    a, b = types
    promote_types(a, b)
    return tensor_type(broadcast_shapes(a.shape, b.shape), dtypes.bool_)


def _logical(types, attrs):
    require(all(t.dtype.is_bool for t in types), "needs bool operands")
    return _compare(types, attrs)


def _max_vjp(pick):
    # torch semantics: ties split the gradient evenly between both operands
    def rule(b, g, x, y, out):
        half = b.mul(g, 0.5)
        gx = b.where(pick(b, x, y), g, b.where(b.eq(x, y), half, b.zeros(g.type)))
        gy = b.where(pick(b, y, x), g, b.where(b.eq(x, y), half, b.zeros(g.type)))
        return gx, gy
    return rule


def _pow_ref(x, y):
    return np.power(x, y)


def _pow_vjp(b, g, x, y, out):
    # torch's conventions: d/dx is 0 where y == 0 (also at x == 0, where y x^(y-1) is 0 * inf);
    # d/dy is 0 where x == 0 and y >= 0 (the limit from x > 0), else x^y log x (NaN for x < 0)
    z = b.zeros(g.type)
    gx = b.where(b.eq(y, 0), z, b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1)))))
    gy = b.where(b.emit("and", b.eq(x, 0), b.ge(y, 0)), z, b.mul(g, b.mul(out, b.log(x))))
    return gx, gy


def _atan2_vjp(b, g, y, x, out):
    r = b.div(g, b.add(b.mul(x, x), b.mul(y, y)))        # d/dy = x / r^2, d/dx = -y / r^2
    return b.mul(r, x), b.neg(b.mul(r, y))


def _copysign_vjp(b, g, x, y, out):
    # torch: out / x, and 0 where x == 0; the sign operand gets no gradient
    z = b.zeros(g.type)
    return b.where(b.eq(x, 0), z, b.mul(g, b.div(out, b.where(b.eq(x, 0), 1.0, x)))), None


def _binary_int(types, attrs):
    t = _binary_arith(types, attrs)
    require(t.dtype.is_int, f"needs integer operands, got {types[0].dtype} and {types[1].dtype} "
                            "(bool tensors use and/or/ne)")
    return t


# name: (shape rule, NumPy reference, gradient rule)
BINARY = {
    "add": (_binary_arith, np.add, lambda b, g, x, y, out: (g, g)),
    "sub": (_sub_infer, np.subtract, lambda b, g, x, y, out: (g, b.neg(g))),
    "mul": (_binary_arith, np.multiply, lambda b, g, x, y, out: (b.mul(g, y), b.mul(g, x))),
    "div": (_binary_float, np.divide,                                       # x/y: 1/y, -x/y^2
            lambda b, g, x, y, out: (b.div(g, y), b.neg(b.div(b.mul(g, out), y)))),
    "pow": (_binary_float, _pow_ref, _pow_vjp),                           # y x^(y-1), x^y log x
    "maximum": (_binary_arith, np.maximum, _max_vjp(lambda b, x, y: b.gt(x, y))),
    "minimum": (_binary_arith, np.minimum, _max_vjp(lambda b, x, y: b.lt(x, y))),
    "eq": (_compare, np.equal, NONDIFF),
    "ne": (_compare, np.not_equal, NONDIFF),
    "lt": (_compare, np.less, NONDIFF),
    "le": (_compare, np.less_equal, NONDIFF),
    "gt": (_compare, np.greater, NONDIFF),
    "ge": (_compare, np.greater_equal, NONDIFF),
    "and": (_logical, np.logical_and, NONDIFF),
    "or": (_logical, np.logical_or, NONDIFF),
    "atan2": (_binary_float, _via_f64_2(np.arctan2), _atan2_vjp),        # angle of (x, y)
    "copysign": (_binary_float, np.copysign, _copysign_vjp),             # |x| with y's sign
}

def _common_np(*xs) -> np.dtype:
    """torch's computation dtype of these operand arrays (registry.promote_types)."""
    return dtypes.result_type([dtypes.from_numpy(x.dtype) for x in xs if np.ndim(x)],
                              [dtypes.from_numpy(x.dtype) for x in xs if not np.ndim(x)]).np


def _promoting(fn):
    """fn on operands first converted to their common dtype, as torch computes (NumPy would
    compute i64 + f32 in f64, and f32 + a 0-d f64 in f64)."""
    def ref(x, y):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype:
            dt = _common_np(x, y)
            x, y = x.astype(dt, copy=False), y.astype(dt, copy=False)
        return fn(x, y)
    ref.__name__ = getattr(fn, "__name__", "ref")
    return ref


for _name, (_infer, _ref, _vjp) in BINARY.items():
    _ref = _promoting(_ref)
    _dt = "bool" if _name in ("and", "or") else "f32"
    _dom = "bool" if _dt == "bool" else ("pos" if _name in ("pow", "div") else "any")
    register(_name, "elementwise", _infer, _ref, [
        ([(_dt, (3, 4), _dom), (_dt, (3, 4), _dom)],),
        ([(_dt, (2, 3, 4), _dom), (_dt, (4,), _dom)],),      # broadcasting
        ([(_dt, (3, 1), _dom), (_dt, (1, 4), _dom)],),
    ], _vjp)

# integer bitwise ops (bool operands promote; bool with bool is and/or/ne) and shifts (as NumPy
# and torch: a shift by a negative amount or by >= the bit width gives 0, or the sign for >>)
_I = np.array([[5, -5, 0, 2**40], [-1, 7, 2**62, -(2**63)], [12, -12, 3, 1]], np.int64)
_S = np.array([[1, 3, 0, 63], [64, -1, 70, 2], [5, 1, 62, 200]], np.int64)
INTEGER_BINARY = {
    "bitwise_and": (np.bitwise_and, [_I, _I[::-1].copy()]),
    "bitwise_or": (np.bitwise_or, [_I, _I[::-1].copy()]),
    "bitwise_xor": (np.bitwise_xor, [_I, _I[::-1].copy()]),
    "shift_left": (np.left_shift, [_I, _S]),
    "shift_right": (np.right_shift, [_I, _S]),
}
for _name, (_ref, (_a, _b)) in INTEGER_BINARY.items():
    register(_name, "elementwise", _binary_int, _ref, [
        ([_a, _b],),
        ([_a.astype(np.int32), np.array([1, 2, 31, 40], np.int32)],),   # broadcasting
        ([np.array([[200], [1], [255]], np.uint8), np.array([1, 7, 8, 9], np.uint8)],),
        ([np.array([-128, 127, -1, 5], np.int8), np.array([1, 7, 8, -3], np.int8)],),
        ([("bool", (3, 4), "bool"), ("i64", (3, 4), "any")],),
    ], NONDIFF)


def _where_infer(types, attrs):
    c, a, b = types
    require(c.dtype.is_bool, f"condition must be bool, got {c.dtype}")
    return tensor_type(broadcast_shapes(c.shape, a.shape, b.shape), promote_types(a, b))


def _where_vjp(b, g, c, x, y, out):
    z = b.zeros(g.type)
    return None, b.where(c, g, z), b.where(c, z, g)


def _where_ref(c, a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        dt = _common_np(a, b)
        a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
    return np.where(c, a, b)


register("where", "elementwise", _where_infer, _where_ref, [
    ([("bool", (3, 4), "bool"), ("f32", (3, 4), "any"), ("f32", (3, 4), "any")],),
    ([("bool", (3, 1), "bool"), ("f32", (4,), "any"), ("f32", (), "any")],),
], _where_vjp)


def _cast_infer(types, attrs):
    (t,) = types
    return same_shape_type(t, dtypes.as_dtype(attrs["dtype"]))


def _cast_ref(x, dtype):
    return x.astype(dtypes.as_dtype(dtype).np)


def _cast_vjp(b, g, x, out, dtype):
    if x.dtype.is_float and out.dtype.is_float:
        return (b.cast(g, dtype=x.dtype),)
    return (None,)


register("cast", "elementwise", _cast_infer, _cast_ref, [
    ([_f()], {"dtype": dtypes.float64}),
    ([_f()], {"dtype": dtypes.int64}),
    ([("i64", (5,), "int:7")], {"dtype": dtypes.float32}),
    ([("bool", (5,), "bool")], {"dtype": dtypes.float32}),
], _cast_vjp)
