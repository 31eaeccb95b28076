"""Torch's elementwise math beyond the core functions: the trigonometric and hyperbolic family
(primitives, with torch's arc* aliases), atan2, erfc, copysign, bitwise ops and shifts on
integers; compositions (gradients and native code come with them): exp2 log2 log10 expm1 ceil
floor trunc frac round fmod remainder hypot deg2rad rad2deg sinc logaddexp logaddexp2 xlogy
logical_* isnan isinf isfinite isposinf isneginf nan_to_num sgn signbit pow (integer powers
stay integer) float_power clip lerp, and the in-place Tensor methods (exp_, sin_, ...).
Installed as Tensor methods where torch has them (never replacing a method a Tensor already
has), and the operators `& | ^ ~ << >>` (bitwise on integers, logical on bool)."""
from __future__ import annotations

import math
from numbers import Number

import numpy as np

from . import dtypes
from . import functions as F
from .driver import tracing
from .errors import InputError
from .tensor import Tensor, apply, fresh_result
from .tensor_methods import floor_divide as _floor_divide, remainder as _remainder

__all__ = [  # graphc's top-level names from this module
    "ceil", "clip", "exp2", "expm1", "fix", "float_power", "floor", "fmod", "frac", "hypot",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "lerp", "log2", "log10", "logical_and",
    "logical_not", "logical_or", "logical_xor", "nan_to_num", "pow", "reciprocal", "remainder",
    "round", "sgn", "signbit", "trunc", "clamp_min", "clamp_max", "floor_divide", "div", "divide",
    "true_divide",
    "sin", "cos", "tan", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh", "cosh",
    "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "erfc", "atan2", "arctan2",
    "copysign", "deg2rad", "rad2deg", "sinc", "logaddexp", "logaddexp2", "xlogy", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
]

_LN2 = math.log(2.0)


def _t(x) -> Tensor:
    return F._t(x)


def _fl(x) -> Tensor:
    return F._float(_t(x))


def exp2(x) -> Tensor:
    """2 ** x elementwise (exact at integers, as torch.exp2)."""
    return apply("pow", 2.0, _fl(x))


def log2(x) -> Tensor:
    """Base-2 logarithm elementwise."""
    return F.log(x) * (1.0 / _LN2)


def log10(x) -> Tensor:
    """Base-10 logarithm elementwise."""
    return F.log(x) * (1.0 / math.log(10.0))


def expm1(x) -> Tensor:
    """exp(x) - 1, accurate near 0: 2 tanh(x/2) / (1 - tanh(x/2)) for |x| < 1, exp(x) - 1
    elsewhere (each branch fed only inputs where it is finite, so gradients stay finite)."""
    x = _fl(x)
    small = F.abs(x) < 1.0
    xs = F.where(small, x, 0.0)
    t = F.tanh(xs * 0.5)
    near = 2.0 * t / (1.0 - t)
    xb = F.where(small, 0.0, x)
    return F.where(small, near, F.exp(xb) - 1.0)


reciprocal = F.reciprocal


def _zero_grad(x: Tensor, out: Tensor) -> Tensor:
    """`out` (a step function of x), with a zero gradient to x as torch gives instead of none:
    where(isnan(x), x, out) has out's values (out is NaN where x is)."""
    return F.where(x != x, x, out) if x.requires_grad else out


def floor(x) -> Tensor:
    """Round down elementwise (integer tensors are returned as they are)."""
    x = _t(x)
    return _zero_grad(x, apply("floor", x)) if x.dtype.is_float else x


def ceil(x) -> Tensor:
    """Round up elementwise: -floor(-x) (integer tensors are returned as they are)."""
    x = _t(x)
    return _zero_grad(x, -apply("floor", -x)) if x.dtype.is_float else x


@fresh_result
def trunc(x) -> Tensor:
    """Round towards zero elementwise."""
    x = _t(x)
    if not x.dtype.is_float:
        return x
    return _zero_grad(x, F.where(x < 0, -apply("floor", -x), apply("floor", x)))


fix = trunc


def frac(x) -> Tensor:
    """x - trunc(x) (the fractional part, with x's sign)."""
    x = _t(x)
    return x - trunc(x)


def _round_even(x: Tensor) -> Tensor:
    f = apply("floor", x)
    d = x - f
    even = (f - 2.0 * apply("floor", f * 0.5)) == 0
    return F.where(d > 0.5, f + 1.0, F.where(d < 0.5, f, F.where(even, f, f + 1.0)))


@fresh_result
def round(x, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round to the nearest integer, halves to even (as torch.round); `decimals` rounds to that
    many decimal places (negative: to tens, hundreds, ...), as torch: x*10^d rounded / 10^d."""
    x = _t(x)
    if not x.dtype.is_float:
        return x
    if decimals == 0:
        return _zero_grad(x, _round_even(x))
    s = float(10.0 ** _absn(decimals))
    if decimals > 0:
        return _zero_grad(x, _round_even(x * s) / s)
    return _zero_grad(x, _round_even(x / s) * s)


def _absn(v):
    return v if v >= 0 else -v


def _promote(a, b):
    from .tensor_methods import _result_dtype
    dt = _result_dtype(a, b)
    a = F.cast(a, dt) if isinstance(a, Tensor) else a
    b = F.cast(b, dt) if isinstance(b, Tensor) else b
    return a, b, dt


def _wide(a, b, dt, fn) -> Tensor:
    """fn on float64 copies of a float32/int a, b, cast back to dt: the quotient's rounding then
    cannot pick the wrong multiple of b, and q * b and a - q * b are exact (quotients < 2**29)."""
    a64 = F.cast(a, dtypes.float64) if isinstance(a, Tensor) else float(a)
    b64 = F.cast(b, dtypes.float64) if isinstance(b, Tensor) else float(b)
    return F.cast(fn(a64, b64), dt)


def fmod(a, b) -> Tensor:
    """C's fmod elementwise: a - trunc(a / b) * b, with the dividend's sign (torch.fmod);
    float32 and integer operands are computed in float64 (exact for quotients below 2**29)."""
    a, b, dt = _promote(a, b)
    if dt == dtypes.float64:
        return a - trunc(a / b) * b
    if dt.is_float:
        return _wide(a, b, dt, lambda x, y: x - trunc(x / y) * y)
    a64 = F.cast(a, dtypes.float64) if isinstance(a, Tensor) else float(a)
    b64 = F.cast(b, dtypes.float64) if isinstance(b, Tensor) else float(b)
    return F.cast(a64 - trunc(a64 / b64) * b64, dt)


def floor_divide(a, b) -> Tensor:
    """a // b as torch: floor(a / b) by torch's float algorithm (from the exact fmod, so the
    quotient is the one torch gives); integers through graphc.tensor_methods (float64, exact)."""
    a, b, dt = _promote(a, b)
    if not dt.is_float:
        return _floor_divide(a, b)
    mod = fmod(a, b)
    div = (a - mod) / b
    neg_a = (a < 0) if isinstance(a, Tensor) else bool(a < 0)
    neg_b = (b < 0) if isinstance(b, Tensor) else bool(b < 0)
    diff = _t(neg_a) != _t(neg_b)
    div = F.where((mod != 0) & diff, div - 1.0, div)
    fl = apply("floor", div)
    fl = F.where((div - fl) > 0.5, fl + 1.0, fl)
    basic = a / b
    zero = basic * 0.0   # 0 with the true quotient's sign (used only where that is finite)
    out = F.where(div != 0, fl, zero)
    return F.cast(F.where(_t(b) != 0, out, basic), dt)


def div(a, b, *, rounding_mode=None) -> Tensor:
    """a / b (true division; integers in float32), or rounded as torch's rounding_mode says:
    'trunc' (towards zero) or 'floor' (a // b); rounded integer division stays integer."""
    if rounding_mode is None:
        return _t(a) / b if isinstance(a, Tensor) or not isinstance(b, Tensor) else a / b
    if rounding_mode == "floor":
        return floor_divide(a, b)
    F.check(rounding_mode == "trunc",
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"{rounding_mode!r}")
    a, b, dt = _promote(a, b)
    if dt.is_float:
        return trunc(a / b)
    return _wide(a, b, dt, lambda x, y: trunc(x / y))


divide = div
true_divide = div


def remainder(a, b) -> Tensor:
    """Python's a % b elementwise: the result has the divisor's sign (torch.remainder); float32
    operands are computed in float64 (exact for quotients below 2**29)."""
    a, b, dt = _promote(a, b)
    if dt.is_float and dt != dtypes.float64:
        return _wide(a, b, dt, _remainder)
    return _remainder(a, b)


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    """x clamped into [min, max]; the bounds may be numbers or tensors (broadcast)."""
    return F.clamp(x, min, max)


clip = clamp


def clamp_min(x, min) -> Tensor:  # noqa: A002
    """max(x, min) elementwise (a number or tensor bound)."""
    return F.clamp(x, min, None)


def clamp_max(x, max) -> Tensor:  # noqa: A002
    """min(x, max) elementwise (a number or tensor bound)."""
    return F.clamp(x, None, max)


def lerp(start, end, weight) -> Tensor:
    """start + weight * (end - start), computed as torch does (from the nearer end)."""
    start, end = _t(start), _t(end)
    d = end - start
    if isinstance(weight, Tensor):
        return F.where(F.abs(weight) < 0.5, start + weight * d, end - d * (1.0 - weight))
    if _absn(weight) < 0.5:
        return start + d * weight
    return end - d * (1.0 - weight)


def hypot(a, b) -> Tensor:
    """sqrt(a^2 + b^2) without overflow or underflow (scaled by max(|a|, |b|))."""
    a, b, _ = _promote(_t(a) if not isinstance(b, Tensor) else a, b)
    aa, bb = F.abs(_fl(a)), F.abs(_fl(b))
    m = F.maximum(aa, bb)
    n = F.minimum(aa, bb)
    bad = (m == 0) | (m == math.inf)
    ms = F.where(bad, 1.0, m)
    r = n / ms
    out = F.where(bad, m, ms * F.sqrt(1.0 + r * r))
    return F.where((aa == math.inf) | (bb == math.inf), math.inf, out)  # hypot(inf, nan) = inf


def _bool(x) -> Tensor:
    x = _t(x)
    return x if x.dtype == dtypes.bool_ else (x != 0)


def logical_not(x) -> Tensor:
    """Elementwise not (nonzero is true), a bool tensor."""
    return apply("not", _bool(x))


def logical_and(a, b) -> Tensor:
    """Elementwise and (nonzero is true), a bool tensor."""
    return apply("and", _bool(a), _bool(b))


def logical_or(a, b) -> Tensor:
    """Elementwise or (nonzero is true), a bool tensor."""
    return apply("or", _bool(a), _bool(b))


def logical_xor(a, b) -> Tensor:
    """Elementwise exclusive or (nonzero is true), a bool tensor."""
    return apply("ne", _bool(a), _bool(b))


def _false(x: Tensor) -> Tensor:
    return F.cast(F.zeros_like(x), dtypes.bool_)


def isnan(x) -> Tensor:
    """True where x is NaN."""
    x = _t(x)
    return (x != x) if x.dtype.is_float else _false(x)


def isinf(x) -> Tensor:
    """True where x is +inf or -inf."""
    x = _t(x)
    return (F.abs(x) == math.inf) if x.dtype.is_float else _false(x)


def isposinf(x) -> Tensor:
    """True where x is +inf."""
    x = _t(x)
    return (x == math.inf) if x.dtype.is_float else _false(x)


def isneginf(x) -> Tensor:
    """True where x is -inf."""
    x = _t(x)
    return (x == -math.inf) if x.dtype.is_float else _false(x)


def isfinite(x) -> Tensor:
    """True where x is neither NaN nor infinite."""
    x = _t(x)
    return ((x - x) == 0) if x.dtype.is_float else apply("not", _false(x))


@fresh_result
def nan_to_num(x, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> `nan`, +inf -> `posinf`, -inf -> `neginf` (defaults: 0 and the dtype's largest
    and lowest finite values, as torch.nan_to_num)."""
    x = _t(x)
    if not x.dtype.is_float:
        return x
    fi = np.finfo(x.dtype.np)
    hi = float(fi.max) if posinf is None else float(posinf)
    lo = float(fi.min) if neginf is None else float(neginf)
    out = F.where(x == math.inf, hi, x)
    out = F.where(x == -math.inf, lo, out)
    return F.where(x != x, float(nan), out)


def sgn(x) -> Tensor:
    """sign(x) (torch.sgn; for real tensors the same as sign: 0 at NaN)."""
    return F.sign(x)


def signbit(x) -> Tensor:
    """True where x's sign bit is set (x < 0, and -0.0); NaN's sign bit is not read (False)."""
    x = _t(x)
    if not x.dtype.is_float:
        return x < 0
    return F.where(x == 0, (1.0 / F.where(x == 0, x, 1.0)) < 0, x < 0)


def float_power(a, b) -> Tensor:
    """a ** b computed in float64 (torch.float_power)."""
    a = F.cast(a, dtypes.float64) if isinstance(a, Tensor) else float(a)
    b = F.cast(b, dtypes.float64) if isinstance(b, Tensor) else float(b)
    if not isinstance(a, Tensor):
        a = F.full((), a, dtype=dtypes.float64)
    return a ** b


def _is_int(v) -> bool:
    """An integer or bool tensor, or a Python/NumPy integer or bool."""
    if isinstance(v, Tensor):
        return not v.dtype.is_float
    return isinstance(v, (int, np.integer, np.bool_))


def pow(a, b) -> Tensor:  # noqa: A001
    """a ** b elementwise (tensor or number exponent, broadcast). Integer powers of integers stay
    integers, by repeated squaring (wrapping on overflow, as torch); an integer tensor to a
    negative integer number is an error, a negative integer exponent in a tensor gives 0 (1 or
    -1 for bases 1 and -1), as torch's. Otherwise float: integers promote to float32."""
    a = a if isinstance(a, (Tensor, Number)) else _t(a)
    b = b if isinstance(b, (Tensor, Number)) else _t(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a)
    if _is_int(a) and _is_int(b):
        return _int_pow(a, b)
    if isinstance(b, (int, float)) and not isinstance(b, bool) and float(b) == 2.0:
        return a * a  # x**2: exact and cheap, as torch does
    a = F._float(a) if isinstance(a, Tensor) else float(a)
    b = F._float(b) if isinstance(b, Tensor) else float(b)
    return apply("pow", a, b)


def _int_pow(a, b) -> Tensor:
    ts = [v.dtype for v in (a, b) if isinstance(v, Tensor)]
    dt = dtypes.promote(*ts) if len(ts) > 1 else ts[0]
    dt = dtypes.int64 if dt.is_bool else dt             # True ** 2 is int64 in torch
    if not isinstance(b, Tensor):
        e = int(b)
        if e < 0:
            raise InputError(f"Integers to negative integer powers are not allowed (exponent {e}, "
                             f"at {tracing.user_where()})")
        base = F.cast(a, dt)
        acc = F.ones_like(base) if e == 0 else None
        while e:
            if e & 1:
                acc = base if acc is None else acc * base
            e >>= 1
            if e:
                base = base * base
        return acc.clone() if acc is a else acc
    e = F.cast(b, dt)
    base = F.cast(a, dt) if isinstance(a, Tensor) else F.zeros_like(e) + a
    one = F.ones_like(e)
    acc = one + F.zeros_like(base)                       # the broadcast shape
    neg = e < 0
    pos = F.where(neg, 0, e)
    if e._value is None and tracing.current() is None:  # eagerly: the largest exponent's bits
        bits = int(np.max(pos.numpy(), initial=0)).bit_length()
    else:
        bits = 8 * dt.itemsize - (0 if dt.name == "u8" else 1)
    b0 = base
    for k in range(bits):
        acc = F.where(bitwise_and(pos, 1 << k) != 0, acc * base, acc)
        if k + 1 < bits:
            base = base * base
    if dt.name == "u8":
        return acc
    # a negative exponent: 1 for base 1, +-1 for base -1 (by parity), else 0 (torch's powi)
    odd = bitwise_and(e, 1) != 0
    special = F.where(b0 == 1, one, F.where(b0 == -1, F.where(odd, -one, one), one * 0))
    return F.where(neg, special, acc)


# ---- the trigonometric and hyperbolic family, erfc (primitives) ---------------------------------

def _unary(op: str, what: str):
    def fn(x) -> Tensor:
        return apply(op, _fl(x))
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"Elementwise {what}; integer and bool tensors are computed in float32."
    return fn


sin = _unary("sin", "sine (radians)")
cos = _unary("cos", "cosine (radians)")
tan = _unary("tan", "tangent (radians)")
asin = arcsin = _unary("asin", "inverse sine (NaN outside [-1, 1])")
acos = arccos = _unary("acos", "inverse cosine (NaN outside [-1, 1])")
atan = arctan = _unary("atan", "inverse tangent")
sinh = _unary("sinh", "hyperbolic sine")
cosh = _unary("cosh", "hyperbolic cosine")
asinh = arcsinh = _unary("asinh", "inverse hyperbolic sine")
acosh = arccosh = _unary("acosh", "inverse hyperbolic cosine (NaN below 1)")
atanh = arctanh = _unary("atanh", "inverse hyperbolic tangent (+-inf at +-1, NaN beyond)")
erfc = _unary("erfc", "complementary error function 1 - erf(x), accurate where erf is near 1")


def _float_operands(a, b):
    """a, b cast to the float dtype torch computes a float-only binary op in: the promoted dtype
    of the float tensors (float32 with int64 is float32, not NumPy's float64), float32 for
    integer and bool tensors; Python numbers are left to weak typing."""
    a = a if isinstance(a, (Tensor, Number)) else _t(a)
    b = b if isinstance(b, (Tensor, Number)) else _t(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a)
    floats = [v.dtype for v in (a, b) if isinstance(v, Tensor) and v.dtype.is_float]
    dt = dtypes.promote(*floats) if floats else dtypes.get_default_dtype()

    def cast(v):
        if isinstance(v, Tensor):
            return v if v.dtype == dt else F.cast(v, dt)
        return float(v)
    return cast(a), cast(b)


def atan2(input, other) -> Tensor:  # noqa: A002
    """The angle of the point (other, input) in (-pi, pi] elementwise (torch.atan2(y, x))."""
    return apply("atan2", *_float_operands(input, other))


arctan2 = atan2


def copysign(input, other) -> Tensor:  # noqa: A002
    """|input| with the sign bit of other elementwise (-0.0 and a negative NaN count as
    negative); the result is float (integers promote to float32)."""
    return apply("copysign", *_float_operands(input, other))


_PI_180 = math.pi / 180.0


def deg2rad(x) -> Tensor:
    """Degrees to radians elementwise: x * pi / 180 (integers promote to float32)."""
    return _fl(x) * _PI_180


def rad2deg(x) -> Tensor:
    """Radians to degrees elementwise: x * 180 / pi (integers promote to float32)."""
    return _fl(x) * (180.0 / math.pi)


def sinc(x) -> Tensor:
    """The normalised sinc, sin(pi x) / (pi x), 1 at 0 (torch.sinc; its gradient 0 there)."""
    x = _fl(x)
    zero = x == 0
    p = F.where(zero, 1.0, x) * math.pi     # pi * x in x's dtype, as torch; 0 is kept out
    return F.where(zero, 1.0, sin(p) / p)


def _logaddexp(a, b, exp_neg, scale: float) -> Tensor:
    """max(a, b) + log1p(exp_neg(|a - b|)) * scale, and a itself where a == b is infinite (torch;
    the difference there is replaced by 0 so that no inf - inf reaches a gradient)."""
    a, b = _float_operands(a, b)
    a, b = (_t(a) if not isinstance(a, Tensor) else a), b
    both_inf = (a == b) & isinf(a)
    d = F.where(both_inf, 0.0, F.abs(a - b))
    out = F.maximum(a, b) + F.log1p(exp_neg(d)) * scale
    return F.where(both_inf, a, out)


def logaddexp(input, other) -> Tensor:  # noqa: A002
    """log(exp(input) + exp(other)) elementwise without overflow (torch.logaddexp)."""
    return _logaddexp(input, other, lambda d: F.exp(-d), 1.0)


def logaddexp2(input, other) -> Tensor:  # noqa: A002
    """log2(2**input + 2**other) elementwise without overflow (torch.logaddexp2)."""
    return _logaddexp(input, other, lambda d: exp2(-d), 1.0 / _LN2)


def xlogy(input, other) -> Tensor:  # noqa: A002
    """input * log(other), 0 where input == 0 (even for other == 0 or inf), NaN where other is
    NaN (torch.xlogy; the gradient at input == 0 is 0)."""
    x, y = _float_operands(input, other)
    if not isinstance(y, Tensor):
        y = F.full_like(x, y) if isinstance(x, Tensor) else _t(y)
    if not isinstance(x, Tensor):
        out = F.where(y != y, math.nan, F.zeros_like(y)) if x == 0 else x * F.log(y)
        return out
    zero = x == 0
    out = F.where(zero, 0.0, x * F.log(F.where(zero, 1.0, y)))
    return F.where(y != y, math.nan, out)


# ---- bitwise ops on integer tensors (logical on bool) --------------------------------------------

def _bools(*vs) -> bool:
    return all((isinstance(v, Tensor) and v.dtype.is_bool) or isinstance(v, (bool, np.bool_))
               for v in vs)


def _bit_operands(a, b):
    a = a if isinstance(a, (Tensor, Number)) else _t(a)
    b = b if isinstance(b, (Tensor, Number)) else _t(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a)
    return a, b


def bitwise_and(input, other) -> Tensor:  # noqa: A002
    """input & other elementwise: bitwise on integers, logical on bool (torch.bitwise_and)."""
    a, b = _bit_operands(input, other)
    return apply("and" if _bools(a, b) else "bitwise_and", a, b)


def bitwise_or(input, other) -> Tensor:  # noqa: A002
    """input | other elementwise: bitwise on integers, logical on bool (torch.bitwise_or)."""
    a, b = _bit_operands(input, other)
    return apply("or" if _bools(a, b) else "bitwise_or", a, b)


def bitwise_xor(input, other) -> Tensor:  # noqa: A002
    """input ^ other elementwise: bitwise on integers, logical on bool (torch.bitwise_xor)."""
    a, b = _bit_operands(input, other)
    return apply("ne" if _bools(a, b) else "bitwise_xor", a, b)


def bitwise_not(input) -> Tensor:  # noqa: A002
    """~input elementwise: bitwise on integers (-x - 1), logical on bool (torch.bitwise_not)."""
    x = _t(input)
    return apply("not" if x.dtype.is_bool else "bitwise_not", x)


def bitwise_left_shift(input, other) -> Tensor:  # noqa: A002
    """input << other elementwise on integers (bits shifted out are lost; a shift by a negative
    amount or by at least the bit width gives 0, as torch)."""
    return apply("shift_left", *_bit_operands(input, other))


def bitwise_right_shift(input, other) -> Tensor:  # noqa: A002
    """input >> other elementwise on integers (arithmetic for signed types; a shift by a negative
    amount or by at least the bit width gives 0, or -1 for negative signed values, as torch)."""
    return apply("shift_right", *_bit_operands(input, other))


# ---- Tensor methods ------------------------------------------------------------------------------

def _install() -> None:
    T = Tensor
    methods = {
        "exp2": exp2, "log2": log2, "log10": log10, "expm1": expm1, "floor": floor, "ceil": ceil,
        "trunc": trunc, "fix": trunc, "frac": frac, "round": round, "fmod": fmod, "hypot": hypot,
        "logical_not": logical_not, "logical_and": logical_and, "logical_or": logical_or,
        "logical_xor": logical_xor, "isnan": isnan, "isinf": isinf, "isfinite": isfinite,
        "isposinf": isposinf, "isneginf": isneginf, "nan_to_num": nan_to_num, "sgn": sgn,
        "signbit": signbit, "float_power": float_power, "clip": clamp, "clamp_min": clamp_min,
        "clamp_max": clamp_max,
    }
    for name, fn in methods.items():
        if name not in T.__dict__:
            setattr(T, name, fn)
    inplace = {
        "sign_": F.sign, "relu_": F.relu, "sigmoid_": F.sigmoid, "tanh_": F.tanh, "exp_": F.exp,
        "log_": F.log, "sqrt_": F.sqrt, "abs_": F.abs, "neg_": F.neg, "floor_": floor,
        "ceil_": ceil, "trunc_": trunc, "fix_": trunc, "frac_": frac, "reciprocal_": F.reciprocal,
        "square_": F.square, "exp2_": exp2, "log2_": log2, "log10_": log10, "expm1_": expm1,
        "log1p_": F.log1p, "rsqrt_": F.rsqrt, "erf_": F.erf, "sgn_": sgn,
        "logical_not_": logical_not,
    }
    for name, fn in inplace.items():
        if name not in T.__dict__:
            setattr(T, name, (lambda f: lambda self: self._assign(f(self)))(fn))
    two = {"clamp_min_": clamp_min, "clamp_max_": clamp_max, "fmod_": fmod, "remainder_": remainder,
           "hypot_": hypot, "float_power_": float_power,
           "logical_and_": logical_and, "logical_or_": logical_or, "logical_xor_": logical_xor}
    for name, fn in two.items():
        if name not in T.__dict__:
            setattr(T, name, (lambda f: lambda self, other: self._assign(f(self, other)))(fn))
    # x % y and x.remainder(y): the float32-exact form above (tensor_methods' is a - (a // b) * b)
    T.remainder = remainder
    T.__mod__ = remainder
    T.__rmod__ = lambda self, o: remainder(o, self)
    T.floor_divide = floor_divide
    T.div = T.divide = lambda self, other, *, rounding_mode=None: \
        div(self, other, rounding_mode=rounding_mode)
    T.true_divide = lambda self, other: div(self, other)
    T.__floordiv__ = floor_divide
    T.__rfloordiv__ = lambda self, o: floor_divide(o, self)
    T.floor_divide_ = lambda self, other: self._assign(floor_divide(self, other))
    if "round_" not in T.__dict__:
        T.round_ = lambda self, *, decimals=0: self._assign(round(self, decimals=decimals))
    if "pow_" not in T.__dict__:
        T.pow_ = lambda self, e: self._assign(self ** e)
    if "clip_" not in T.__dict__:
        T.clip_ = lambda self, min=None, max=None: self._assign(clamp(self, min, max))  # noqa: A002
    if "nan_to_num_" not in T.__dict__:
        T.nan_to_num_ = lambda self, nan=0.0, posinf=None, neginf=None: \
            self._assign(nan_to_num(self, nan, posinf, neginf))
    _install_family()


# the names installed below as Tensor methods, each with its in-place variant `name_`
_FAMILY_UNARY = ("sin", "cos", "tan", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh",
                 "cosh", "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "erfc",
                 "deg2rad", "rad2deg", "sinc", "bitwise_not")
_FAMILY_BINARY = ("atan2", "arctan2", "copysign", "xlogy", "bitwise_and", "bitwise_or",
                  "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift")


def _inplace(self: Tensor, new: Tensor) -> Tensor:
    """self <- new, refusing what torch refuses: a float result into an integer tensor, an
    integer result into a bool one."""
    if (new.dtype.is_float and not self.dtype.is_float) or \
            (self.dtype.is_bool and not new.dtype.is_bool):
        raise InputError(f"result type {new.dtype.torch_name.capitalize()} can't be cast to the "
                         f"desired output type {self.dtype.torch_name.capitalize()} (in-place "
                         f"update at {tracing.user_where()})")
    return self._assign(new)


def _install_family() -> None:
    T, ns = Tensor, globals()
    for name in _FAMILY_UNARY:
        fn = ns[name]
        setattr(T, name, fn)
        setattr(T, name + "_", (lambda f: lambda self: _inplace(self, f(self)))(fn))
    for name in _FAMILY_BINARY + ("logaddexp", "logaddexp2"):
        setattr(T, name, ns[name])
    for name in _FAMILY_BINARY:
        setattr(T, name + "_", (lambda f: lambda self, other: _inplace(self, f(self, other)))(
            ns[name]))
    # operators: bitwise on integers, logical on bool (torch); x &= y updates x in place
    for op, fn in (("and", bitwise_and), ("or", bitwise_or), ("xor", bitwise_xor),
                   ("lshift", bitwise_left_shift), ("rshift", bitwise_right_shift)):
        setattr(T, f"__{op}__", fn)
        setattr(T, f"__r{op}__", (lambda f: lambda self, other: f(other, self))(fn))
        setattr(T, f"__i{op}__", (lambda f: lambda self, other: _inplace(self, f(self, other)))(fn))
    T.__invert__ = bitwise_not
    T.__pow__ = pow
    T.__rpow__ = lambda self, other: pow(other, self)
    T.__ipow__ = lambda self, other: self._assign(pow(self, other))
    T.pow = pow
    T.pow_ = lambda self, e: _inplace(self, pow(self, e))


_install()
