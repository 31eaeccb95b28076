"""The `philox` kernel: Philox 4x32-10 random numbers (graphc/ir/ops/random.py has the spec).

One loop over 128-bit counter blocks: block j runs the ten Philox rounds on the counter
(lo32(offset+j), hi32(offset+j), 0, 0) with the key from the seed (u32 arithmetic as i32 ops,
the 32x32->64 products as i64 multiplies of zero-extended words), turns the four words into
uniform floats exactly as the NumPy reference (float32: (x >> 8) * 2^-24; float64:
((x1 << 32 | x0) >> 11) * 2^-53) and, for dist="normal", runs Box-Muller on each pair in float64
through libm (log, cos, sin) and llvm.sqrt. The uniforms are bit-identical to the interpreter's;
normals agree to libm's last bit. The last block stores only the values the shape needs. It is
sequential and independent of the thread count.
"""
from __future__ import annotations

import math

import llvmlite.ir as ir

from .... import dtypes
from ....ir.graph import Node
from ....ir.ops.random import M0, M1, ROUNDS, W0, W1, per_block, philox_blocks
from .. import irhelp as H
from . import register_kernel

I32, I64, F32, F64 = ir.IntType(32), ir.IntType(64), ir.FloatType(), ir.DoubleType()


def _libm(module: ir.Module, name: str) -> ir.Function:
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(F64, [F64]), name)
        fn.attributes.add("nounwind")
    return fn


def _sqrt(module: ir.Module) -> ir.Function:
    fn = module.globals.get("llvm.sqrt.f64")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(F64, [F64]), "llvm.sqrt.f64")
    return fn


def _mulhilo(b: ir.IRBuilder, m: int, x: ir.Value):
    p = b.mul(ir.Constant(I64, m), b.zext(x, I64))
    return b.trunc(b.lshr(p, ir.Constant(I64, 32)), I32), b.trunc(p, I32)


def philox_words(b: ir.IRBuilder, ctr: list, key: list) -> list:
    """The ten Philox 4x32 rounds on i32 words ctr (4) with key (2): four i32 words."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(ROUNDS):
        if r:
            k0, k1 = b.add(k0, ir.Constant(I32, W0)), b.add(k1, ir.Constant(I32, W1))
        hi0, lo0 = _mulhilo(b, M0, c0)
        hi1, lo1 = _mulhilo(b, M1, c2)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
    return [c0, c1, c2, c3]


def _uniforms(b: ir.IRBuilder, words: list, dt) -> list:
    if dt == dtypes.float32:
        scale = ir.Constant(F32, 2.0 ** -24)
        return [b.fmul(b.uitofp(b.lshr(w, ir.Constant(I32, 8)), F32), scale) for w in words]
    out = []
    for lo, hi in ((words[0], words[1]), (words[2], words[3])):
        u = b.or_(b.shl(b.zext(hi, I64), ir.Constant(I64, 32)), b.zext(lo, I64))
        u = b.lshr(u, ir.Constant(I64, 11))
        out.append(b.fmul(b.uitofp(u, F64), ir.Constant(F64, 2.0 ** -53)))
    return out


def _box_muller(b: ir.IRBuilder, module: ir.Module, us: list) -> list:
    log, cos, sin, sqrt = (_libm(module, "log"), _libm(module, "cos"), _libm(module, "sin"),
                           _sqrt(module))
    out = []
    for ua, ub in zip(us[0::2], us[1::2]):
        ua, ub = (u if u.type == F64 else b.fpext(u, F64) for u in (ua, ub))
        r = b.call(sqrt, [b.fmul(ir.Constant(F64, -2.0),
                                 b.call(log, [b.fsub(ir.Constant(F64, 1.0), ua)]))])
        th = b.fmul(ir.Constant(F64, 2.0 * math.pi), ub)
        out += [b.fmul(r, b.call(cos, [th])), b.fmul(r, b.call(sin, [th]))]
    return out


@register_kernel("philox")
def emit_philox(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """out = philox[shape, dtype, dist](state): one counter block per loop iteration."""
    y = node.outputs[0]
    dt, dist = y.dtype, node.attrs.get("dist", "uniform")
    n = math.prod(y.shape)
    if n == 0:
        return
    k, blocks = per_block(dt), philox_blocks(n, dt)
    seed = H.load(b, ins[0], dtypes.int64, H.i64(0))
    offset = H.load(b, ins[0], dtypes.int64, H.i64(1))
    key = [b.trunc(seed, I32), b.trunc(b.lshr(seed, ir.Constant(I64, 32)), I32)]
    zero = ir.Constant(I32, 0)

    def block(j, _):
        c = b.add(offset, j)
        words = philox_words(b, [b.trunc(c, I32), b.trunc(b.lshr(c, ir.Constant(I64, 32)), I32),
                                 zero, zero], key)
        vals = _uniforms(b, words, dt)
        if dist == "normal":
            vals = _box_muller(b, module, vals)
            if dt == dtypes.float32:
                vals = [b.fptrunc(v, F32) for v in vals]
        base = b.mul(j, H.i64(k))
        for i, v in enumerate(vals):
            idx = b.add(base, H.i64(i))
            if n % k == 0 or i == 0:
                H.store(b, v, out, dt, idx)
            else:   # the last block may hold fewer than k values
                with b.if_then(b.icmp_signed("<", idx, H.i64(n))):
                    H.store(b, v, out, dt, idx)
        return []
    H.loop(b, blocks, block, name="blk")
