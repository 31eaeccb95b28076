"""The `allreduce` op in native code: pack, one MPI_Allreduce, unpack with the 1/N of the mean.

The kernel copies the gradients into one contiguous scratch buffer, calls the imported symbol
`graphc_allreduce(ptr buf, i64 count, i32 is_f64) -> i32` (an in-place sum over the ranks) and
writes `buf * (1/world)` into each result. What that symbol is, is decided per process (the
compiled object stays cacheable): by default a tiny LLVM shim calling libmpi's `MPI_Allreduce`
directly with mpi4py's handles for graphc's communicator; `GRAPHC_ALLREDUCE=python` makes it a
ctypes callback into mpi4py instead (slower by the GIL hand-off; kept for comparison and as the
fallback where libmpi's symbol cannot be found).

A whole kernel (kernels.py): it builds its own function and scratch buffer.
"""
from __future__ import annotations

import ctypes
import threading

from llvmlite import ir

from .... import config, mpi
from .. import irhelp as H
from .. import target
from . import register_kernel

SYMBOL = "graphc_allreduce"
_lock = threading.Lock()
_state: dict = {}
_CALLBACK_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)


@register_kernel("allreduce", whole=True)
def emit_allreduce(mb, b, slots, node, err, name: str) -> None:
    """One internal kernel `name` for `node`, called from the entry with its buffers."""
    dt = node.inputs[0].dtype
    total = sum(v.type.size for v in node.inputs)
    off = mb.reserve(total * dt.np.itemsize)
    args = [mb.pointer(b, slots, v) for v in list(node.inputs) + list(node.outputs)]
    args.append(mb.arena_pointer(b, slots, off))
    kf, kb = mb.kernel_function(name, len(args))
    n = len(node.inputs)
    ins, outs, flat = kf.args[:n], kf.args[n:2 * n], kf.args[2 * n]
    at = 0
    for v, p in zip(node.inputs, ins):   # pack: one buffer, so one MPI call
        dst = kb.gep(flat, [H.i64(at)], source_etype=H.mem_type(dt))
        H.memcpy(kb, mb.module, dst, p, v.type.nbytes)
        at += v.type.size
    if node.attrs["world"] > 1:  # one rank: a copy (no MPI needed to run the graph)
        fn = mb.runtime_function(SYMBOL, ir.FunctionType(H.I32, [H.PTR, H.I64, H.I32]))
        kb.call(fn, [flat, H.i64(total), ir.Constant(H.I32, int(dt.np.itemsize == 8))])
    scale = H.const(dt, 1.0 / node.attrs["world"])
    at = 0
    for v, p in zip(node.outputs, outs):  # unpack, dividing the sum by the number of ranks
        base = at

        def body(i, c, p=p, base=base):
            x = H.load(kb, flat, dt, kb.add(i, H.i64(base)))
            H.store(kb, kb.fmul(x, scale), p, dt, i)
            return []
        H.loop(kb, v.type.size, body, name="ar")
        at += v.type.size
    kb.ret_void()
    b.call(kf, args)


def mode() -> str:
    """GRAPHC_ALLREDUCE: "native" (default: MPI_Allreduce called from native code) or "python"."""
    return config.allreduce_mode()


def address() -> int:
    """Address of this process's `graphc_allreduce` (built on first use; needs mpi.init)."""
    with _lock:
        m = mode()
        if m not in _state:
            _state[m] = _native() if m == "native" else None
            if _state[m] is None:
                _state[m] = _python()
        return _state[m][0]


def _python():
    """A ctypes callback: the native step re-enters Python and calls mpi4py."""
    import numpy as np

    def allreduce(ptr, count, is_f64):
        ctype = ctypes.c_double if is_f64 else ctypes.c_float
        buf = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), (count,))
        mpi.allreduce_sum_(buf)
        return 0
    cb = _CALLBACK_T(allreduce)
    return ctypes.cast(cb, ctypes.c_void_p).value, cb


def _libmpi_allreduce() -> int | None:
    """Address of MPI_Allreduce in the libmpi mpi4py loaded (through mpi4py's own extension)."""
    from mpi4py import MPI
    try:
        lib = ctypes.CDLL(MPI.__file__)
        return ctypes.cast(lib.MPI_Allreduce, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


def _native():
    """A shim `graphc_allreduce` in LLVM IR calling MPI_Allreduce(IN_PLACE, ...) on graphc's
    communicator; mpi4py gives the handles, so MPICH (int handles) and Open MPI (pointers) both
    work. Built per process (handles are process values), never cached."""
    from mpi4py import MPI

    fn_addr = _libmpi_allreduce()
    if fn_addr is None:
        return None
    comm = mpi.communicator()
    ht = ir.IntType(8 * MPI._sizeof(MPI.Comm))
    dtt = ir.IntType(8 * MPI._sizeof(MPI.Datatype))
    opt = ir.IntType(8 * MPI._sizeof(MPI.Op))
    m = ir.Module("graphc_allreduce")
    mpi_allreduce = ir.Function(
        m, ir.FunctionType(H.I32, [H.PTR, H.PTR, H.I32, dtt, opt, ht]), "MPI_Allreduce")
    f = ir.Function(m, ir.FunctionType(H.I32, [H.PTR, H.I64, H.I32]), SYMBOL)
    b = ir.IRBuilder(f.append_basic_block("entry"))
    in_place = b.inttoptr(ir.Constant(H.I64, int(MPI.IN_PLACE) & (2 ** 64 - 1)), H.PTR)
    dtype = b.select(b.icmp_signed("!=", f.args[2], ir.Constant(H.I32, 0)),
                     ir.Constant(dtt, MPI._handleof(MPI.DOUBLE)),
                     ir.Constant(dtt, MPI._handleof(MPI.FLOAT)))
    rc = b.call(mpi_allreduce, [in_place, f.args[0], b.trunc(f.args[1], H.I32), dtype,
                                ir.Constant(opt, MPI._handleof(MPI.SUM)),
                                ir.Constant(ht, MPI._handleof(comm))])
    b.ret(rc)
    obj = target.emit_object(target.optimize(str(m), opt=2))
    loaded = target.Loaded(obj, [SYMBOL], imports={"MPI_Allreduce": fn_addr})
    return loaded.addresses[SYMBOL], loaded
