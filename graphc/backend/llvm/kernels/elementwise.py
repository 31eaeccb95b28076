"""Elementwise lowering rules: the RULES table (op name -> rule), emitting LLVM IR on scalars or
vectors inside loop kernels and matmul epilogues.

A rule is `rule(cx, args, node) -> ir.Value` where `args` are operand values already converted
to the op's computation dtype (the result's, unless COMPUTE_DTYPE says otherwise; operands
listed in UNCONVERTED arrive as they are), of vector width `cx.w` (1 = scalar). Vector math (exp,
log, tanh, erf, erfc, log1p, pow, the trigonometric and hyperbolic family, atan2) calls libmvec
of glibc (`_ZGVdN8v_expf`: 8 floats or 4 doubles in a ymm register) when this CPU has AVX2 and the
library exports that variant; otherwise each lane calls scalar libm (the portable path).

No `nnan`/`ninf` fast-math flags anywhere: NaN and Inf propagate as in NumPy. Products and sums
carry `contract` so LLVM may form FMAs.
"""
from __future__ import annotations

import ctypes
import functools

import llvmlite.ir as ir

from .... import dtypes
from ....dtypes import DType
from .. import irhelp as H

FLAGS = ("contract",)


class Ctx:
    """What a rule needs: the builder, module (for declarations), width, and host capabilities."""

    def __init__(self, b: ir.IRBuilder, module: ir.Module, w: int, vector_math: bool):
        self.b, self.module, self.w, self.vector_math = b, module, w, vector_math

    def declare(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        """The function `name` in the module, declared (nounwind) on first use."""
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name)
            fn.attributes.add("nounwind")
        return fn

    def intrinsic(self, name: str, t: ir.Type, n_args: int = 1) -> ir.Function:
        """The LLVM intrinsic `llvm.<name>` overloaded for type `t`, taking `n_args` operands."""
        suffix = f"v{t.count}{_scal_name(t.element)}" if isinstance(t, ir.VectorType) \
            else _scal_name(t)
        return self.declare(f"llvm.{name}.{suffix}", t, [t] * n_args)


def _scal_name(t: ir.Type) -> str:
    if isinstance(t, ir.FloatType):
        return "f32"
    if isinstance(t, ir.DoubleType):
        return "f64"
    return f"i{t.width}"


# ---- vector math through libmvec (or lane by lane through libm) --------------------------------

_LIBM = {"exp": ("expf", "exp"), "log": ("logf", "log"), "log1p": ("log1pf", "log1p"),
         "tanh": ("tanhf", "tanh"), "erf": ("erff", "erf"), "pow": ("powf", "pow"),
         "erfc": ("erfcf", "erfc"), "atan2": ("atan2f", "atan2")}
_LIBM.update({op: (op + "f", op) for op in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                                            "cosh", "asinh", "acosh", "atanh")})


@functools.cache
def has_vector_variant(symbol: str) -> bool:
    """Whether glibc's libmvec exports `symbol` (glibc 2.22 has only sin/cos/exp/log/pow; the
    other variants came with 2.35): a missing one falls back to scalar libm lane by lane."""
    try:
        return hasattr(ctypes.CDLL("libmvec.so.1"), symbol)
    except OSError:
        return False


def mathcall(cx: Ctx, name: str, dt: DType, *xs: ir.Value) -> ir.Value:
    """libm's `name` on xs: libmvec vector variants when available, else lane by lane."""
    b, w = cx.b, cx.w
    f32 = dt.name == "f32"
    st = H.scalar_type(dt)
    scalar_name = _LIBM[name][0 if f32 else 1]
    nargs = len(xs)
    if w == 1:
        return b.call(cx.declare(scalar_name, st, [st] * nargs), list(xs))
    lanes = 8 if f32 else 4
    vname = f"_ZGVdN{lanes}{'v' * nargs}_{scalar_name}"
    if cx.vector_math and w % lanes == 0 and has_vector_variant(vname):
        vt = ir.VectorType(st, lanes)
        fn = cx.declare(vname, vt, [vt] * nargs)
        if w == lanes:
            return b.call(fn, list(xs))
        parts = []
        for k in range(0, w, lanes):
            idx = ir.Constant(ir.VectorType(H.I32, lanes), list(range(k, k + lanes)))
            parts.append(b.call(fn, [b.shuffle_vector(x, x, idx) for x in xs]))
        return _concat(b, parts, lanes)
    fn = cx.declare(scalar_name, st, [st] * nargs)
    out = ir.Constant(ir.VectorType(st, w), ir.Undefined)
    for k in range(w):
        i = ir.Constant(H.I32, k)
        out = b.insert_element(out, b.call(fn, [b.extract_element(x, i) for x in xs]), i)
    return out


def _concat(b, parts, lanes):
    while len(parts) > 1:
        nxt = []
        for a, c in zip(parts[::2], parts[1::2]):
            n = a.type.count
            nxt.append(b.shuffle_vector(a, c, ir.Constant(ir.VectorType(H.I32, 2 * n),
                                                          list(range(2 * n)))))
        parts = nxt
    return parts[0]


# ---- conversions --------------------------------------------------------------------------------

def convert(b: ir.IRBuilder, v: ir.Value, src: DType, dst: DType, w: int) -> ir.Value:
    """NumPy's astype between graphc dtypes, on scalars or vectors."""
    if src is dst:
        return v
    t = H.vtype(dst, w)
    if dst.is_bool:
        if src.is_float:
            return b.fcmp_unordered("!=", v, H.const(src, 0, w))
        return b.icmp_unsigned("!=", v, H.const(src, 0, w))
    if src.is_bool:
        return b.uitofp(v, t) if dst.is_float else b.zext(v, t)
    if src.is_float and dst.is_float:
        return b.fpext(v, t) if dst.itemsize > src.itemsize else b.fptrunc(v, t)
    if src.is_float:
        return b.fptoui(v, t) if dst.name == "u8" else b.fptosi(v, t)
    if dst.is_float:
        return b.uitofp(v, t) if src.name == "u8" else b.sitofp(v, t)
    if dst.itemsize > src.itemsize:
        return b.zext(v, t) if src.name == "u8" else b.sext(v, t)
    if dst.itemsize < src.itemsize:
        return b.trunc(v, t)
    return v  # i8 <-> u8: same bits


# ---- the rules ------------------------------------------------------------------------------------

def _is_float(node) -> bool:
    return node.outputs[0].dtype.is_float


def _arith(fop, iop):
    def rule(cx, args, node):
        b = cx.b
        dt = node.outputs[0].dtype
        if dt.is_float:
            return getattr(b, fop)(*args, flags=FLAGS)
        if dt.is_bool and iop == "add":  # NumPy: True + True is True (logical or), not i1 xor
            return b.or_(*args)
        return getattr(b, iop)(*args)
    return rule


def _neg(cx, args, node):
    (x,) = args
    dt = node.outputs[0].dtype
    return cx.b.fneg(x) if dt.is_float else cx.b.sub(H.const(dt, 0, cx.w), x)


def _intrinsic1(name):
    def rule(cx, args, node):
        return cx.b.call(cx.intrinsic(name, args[0].type), args)
    return rule


def _math(name):
    def rule(cx, args, node):
        return mathcall(cx, name, node.outputs[0].dtype, *args)
    return rule


def _rsqrt(cx, args, node):
    dt = node.outputs[0].dtype
    s = cx.b.call(cx.intrinsic("sqrt", args[0].type), args)
    return cx.b.fdiv(H.const(dt, 1.0, cx.w), s)


def _abs(cx, args, node):
    (x,) = args
    dt = node.outputs[0].dtype
    if dt.is_float:
        return cx.b.call(cx.intrinsic("fabs", x.type), [x])
    if dt.name == "u8" or dt.is_bool:
        return x
    neg = cx.b.icmp_signed("<", x, H.const(dt, 0, cx.w))
    return cx.b.select(neg, cx.b.sub(H.const(dt, 0, cx.w), x), x)


def _sign(cx, args, node):
    (x,) = args
    b, w, dt = cx.b, cx.w, node.outputs[0].dtype
    one, mone, zero = H.const(dt, 1, w), H.const(dt, -1, w), H.const(dt, 0, w)
    if dt.is_float:  # NaN stays NaN and -0.0 gives +0.0, as np.sign
        pos, neg = b.fcmp_ordered(">", x, zero), b.fcmp_ordered("<", x, zero)
        nan = b.fcmp_unordered("uno", x, x)
        return b.select(pos, one, b.select(neg, mone, b.select(nan, x, zero)))
    if dt.name == "u8":
        return b.select(b.icmp_unsigned(">", x, zero), one, zero)
    pos, neg = b.icmp_signed(">", x, zero), b.icmp_signed("<", x, zero)
    return b.select(pos, one, b.select(neg, mone, zero))


def _not(cx, args, node):
    return cx.b.xor(args[0], H.const(dtypes.bool_, 1, cx.w))


def _bitwise_not(cx, args, node):
    return cx.b.xor(args[0], H.const(node.outputs[0].dtype, -1, cx.w))   # all ones


def _shift(left: bool):
    """x << s / x >> s as NumPy and torch: a negative s or one >= the bit width shifts every bit
    out (0, or the sign for a signed >>), where LLVM's shl/ashr/lshr would give poison."""
    def rule(cx, args, node):
        b, w, dt = cx.b, cx.w, node.outputs[0].dtype
        x, s = args
        bits = 8 * dt.itemsize
        out_of_range = b.icmp_unsigned(">=", s, H.const(dt, bits, w))
        signed = dt.name != "u8"
        safe = b.select(out_of_range, H.const(dt, bits - 1 if not left and signed else 0, w), s)
        if left:
            return b.select(out_of_range, H.const(dt, 0, w), b.shl(x, safe))
        if signed:
            return b.ashr(x, safe)      # >> (bits - 1) is the sign
        return b.select(out_of_range, H.const(dt, 0, w), b.lshr(x, safe))
    return rule


def _minmax(fname, signed, unsigned):
    def rule(cx, args, node):
        dt = node.outputs[0].dtype
        b = cx.b
        if dt.is_float:  # llvm.maximum propagates NaN, as np.maximum
            return b.call(cx.intrinsic(fname, args[0].type, 2), args)
        x, y = args
        if dt.is_bool or dt.name == "u8":
            c = b.icmp_unsigned(unsigned, x, y)
        else:
            c = b.icmp_signed(signed, x, y)
        return b.select(c, x, y)
    return rule


_FCMP = {"eq": ("==", True), "ne": ("!=", False), "lt": ("<", True), "le": ("<=", True),
         "gt": (">", True), "ge": (">=", True)}


def _compare(op):
    sym, ordered = _FCMP[op]

    def rule(cx, args, node):
        b = cx.b
        dt = cx.compute_dtype
        if dt.is_float:
            return b.fcmp_ordered(sym, *args) if ordered else b.fcmp_unordered(sym, *args)
        if dt.is_bool or dt.name == "u8" or sym in ("==", "!="):
            return b.icmp_unsigned(sym, *args)
        return b.icmp_signed(sym, *args)
    return rule


def _where(cx, args, node):
    return cx.b.select(*args)


def _cast(cx, args, node):
    return convert(cx.b, args[0], node.inputs[0].dtype, node.outputs[0].dtype, cx.w)


RULES = {
    "add": _arith("fadd", "add"), "sub": _arith("fsub", "sub"), "mul": _arith("fmul", "mul"),
    "div": lambda cx, a, n: cx.b.fdiv(*a, flags=FLAGS),
    "pow": _math("pow"),
    "maximum": _minmax("maximum", ">", ">"), "minimum": _minmax("minimum", "<", "<"),
    "and": lambda cx, a, n: cx.b.and_(*a), "or": lambda cx, a, n: cx.b.or_(*a),
    "bitwise_and": lambda cx, a, n: cx.b.and_(*a), "bitwise_or": lambda cx, a, n: cx.b.or_(*a),
    "bitwise_xor": lambda cx, a, n: cx.b.xor(*a), "bitwise_not": _bitwise_not,
    "shift_left": _shift(True), "shift_right": _shift(False),
    "atan2": _math("atan2"), "erfc": _math("erfc"),
    "copysign": lambda cx, a, n: cx.b.call(cx.intrinsic("copysign", a[0].type, 2), a),
    "neg": _neg, "exp": _math("exp"), "log": _math("log"), "log1p": _math("log1p"),
    "tanh": _math("tanh"), "erf": _math("erf"), "sqrt": _intrinsic1("sqrt"), "rsqrt": _rsqrt,
    "floor": _intrinsic1("floor"), "abs": _abs, "sign": _sign, "not": _not,
    "stop_gradient": lambda cx, a, n: a[0], "custom_vjp": lambda cx, a, n: a[0],
    # kernels read a broadcast's operand with broadcast strides: the value is already per-element
    "broadcast": lambda cx, a, n: a[0],
    "where": _where, "cast": _cast,
}
RULES.update({op: _compare(op) for op in _FCMP})
RULES.update({op: _math(op) for op in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
                                       "asinh", "acosh", "atanh")})

# ops whose one operand reaches the rule as it is, computed in the operand's own dtype: a cast
# converts by itself, the others pass the value on
_AS_IS = ("cast", "stop_gradient", "custom_vjp", "broadcast")

# the dtype operands are converted to before the rule runs, where it is not the result's
COMPUTE_DTYPE = {
    **{op: lambda node: dtypes.result_type([v.dtype for v in node.inputs if v.shape != ()],
                                           [v.dtype for v in node.inputs if v.shape == ()])
       for op in _FCMP},
    **{op: lambda node: node.inputs[0].dtype for op in _AS_IS},
}
# operand positions passed to the rule unconverted: the _AS_IS ops' operand, where's condition
UNCONVERTED = {**{op: (0,) for op in _AS_IS}, "where": (0,)}


def compute_dtype(node) -> DType:
    """The dtype operands are converted to before the rule runs."""
    rule = COMPUTE_DTYPE.get(node.op)
    return node.outputs[0].dtype if rule is None else rule(node)


def lower_elementwise(cx: Ctx, node, args: list[ir.Value]) -> ir.Value:
    """Convert operands to the computation dtype, then apply the op's rule."""
    cd = compute_dtype(node)
    cx.compute_dtype = cd
    keep = UNCONVERTED.get(node.op, ())
    conv = [a if k in keep else convert(cx.b, a, v.dtype, cd, cx.w)
            for k, (v, a) in enumerate(zip(node.inputs, args))]
    rule = RULES.get(node.op)
    if rule is None:
        raise NotImplementedError(f"no LLVM lowering for elementwise op {node.op}")
    return rule(cx, conv, node)
