"""Elementwise primitives: unary math, binary arithmetic/comparisons, where, cast, stop_gradient."""
from __future__ import annotations

import math

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import NONDIFF, broadcast_shapes, promote, register, require, same_shape_type

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


def _binary_arith(types, attrs):
    a, b = types
    dt = promote(a.dtype, b.dtype)
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


def _compare(types, attrs):
    a, b = types
    promote(a.dtype, b.dtype)
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


# name: (shape rule, NumPy reference, gradient rule)
BINARY = {
    "add": (_binary_arith, np.add, lambda b, g, x, y, out: (g, g)),
    "sub": (_sub_infer, np.subtract, lambda b, g, x, y, out: (g, b.neg(g))),
    "mul": (_binary_arith, np.multiply, lambda b, g, x, y, out: (b.mul(g, y), b.mul(g, x))),
    "div": (_binary_float, np.divide,                                       # x/y: 1/y, -x/y^2
            lambda b, g, x, y, out: (b.div(g, y), b.neg(b.div(b.mul(g, out), y)))),
    "pow": (_binary_float, _pow_ref,                                        # y x^(y-1), x^y log x
            lambda b, g, x, y, out: (b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1)))),
                                     b.mul(g, b.mul(out, b.log(x))))),
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
}

for _name, (_infer, _ref, _vjp) in BINARY.items():
    _dt = "bool" if _name in ("and", "or") else "f32"
    _dom = "bool" if _dt == "bool" else ("pos" if _name in ("pow", "div") else "any")
    register(_name, "elementwise", _infer, _ref, [
        ([(_dt, (3, 4), _dom), (_dt, (3, 4), _dom)],),
        ([(_dt, (2, 3, 4), _dom), (_dt, (4,), _dom)],),      # broadcasting
        ([(_dt, (3, 1), _dom), (_dt, (1, 4), _dom)],),
    ], _vjp)


def _where_infer(types, attrs):
    c, a, b = types
    require(c.dtype.is_bool, f"condition must be bool, got {c.dtype}")
    return tensor_type(broadcast_shapes(c.shape, a.shape, b.shape), promote(a.dtype, b.dtype))


def _where_vjp(b, g, c, x, y, out):
    z = b.zeros(g.type)
    return None, b.where(c, g, z), b.where(c, z, g)


register("where", "elementwise", _where_infer, np.where, [
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
