"""Every llvmlite 0.50 / LLVM 22 idiom graphc relies on, in one place.

- initialise the native target *and* asm printer (plain `llvm.initialize()` raises);
- a fresh host TargetMachine for each engine (engines take ownership of theirs); one per
  thread for optimising and emitting objects;
- optimise with a fresh PipelineTuningOptions + PassBuilder + ModulePassManager each time
  (a pass manager runs once; a reused PassBuilder accumulates callbacks);
- LLJIT with a unique library name per module, keeping the resource tracker alive;
- object code cached as bytes and loaded with `add_object_img`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import threading

import llvmlite
import llvmlite.binding as llvm

from ... import config

_lock = threading.RLock()
_state: dict = {}
_names = itertools.count()


def init() -> None:
    """Initialise LLVM once per process (thread-safe)."""
    with _lock:
        if _state.get("init"):
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _state["libmvec"] = _load_libmvec()
        _state["init"] = True


def _load_libmvec() -> bool:
    """glibc's vector math library (exp/log/tanh/erf on 8 floats at once), if present."""
    for name in ("libmvec.so.1", ctypes.util.find_library("mvec")):
        if not name:
            continue
        try:
            llvm.load_library_permanently(name)
            ctypes.CDLL(name)
            return True
        except (OSError, RuntimeError):
            continue
    return False


def host() -> dict:
    """CPU name and feature string of this machine, and what graphc may use on it."""
    init()
    feats = llvm.get_host_cpu_features()
    return {"cpu": llvm.get_host_cpu_name(), "features": feats.flatten(),
            "avx2": bool(feats.get("avx2")) and bool(feats.get("fma")),
            # 256-bit u8 x s8 dot products in one instruction (vpdpbusd); GRAPHC_INT8_VNNI=0
            # forces the AVX2 pmaddubsw path (to test it, or to match a machine without VNNI)
            "vnni": bool(feats.get("avx512vnni")) and bool(feats.get("avx512vl"))
            and config.int8_vnni(),
            # 512-bit float registers for the fp32/fp64 matmul tiles (32 registers: 12 x 32 tile);
            # GRAPHC_AVX512=0 keeps the 256-bit 6 x 16 tile (to test it, or to avoid AVX-512
            # frequency drops on CPUs where they are large)
            "avx512": bool(feats.get("avx512f")) and bool(feats.get("avx512vl"))
            and config.avx512(),
            "libmvec": _state["libmvec"], "triple": llvm.get_process_triple()}


# The large code model: every reference from code to its constants, to other sections and to
# C library functions is a 64-bit absolute address. With the small model they are 32-bit
# PC-relative, and the JIT's linker (RuntimeDyld) places the text and data sections of an object
# in separate mappings; in a process whose address space is crowded (PyTorch and JAX loaded, a few
# GB of arrays) they landed more than 2 GB apart and the link aborted the process
# (`RuntimeDyldELF::resolveX86_64Relocation: Assertion isInt<32>(RealOffset)`).
CODE_MODEL = "large"


def target_machine(opt: int = 3):
    """A fresh TargetMachine for this host (CPU name + features; fresh because engines own theirs)."""
    init()
    h = host()
    target = llvm.Target.from_triple(h["triple"])
    return target.create_target_machine(cpu=h["cpu"], features=h["features"], opt=opt,
                                        reloc="pic", codemodel=CODE_MODEL, jit=True)


_tls = threading.local()


def _thread_machine(opt: int):
    """This thread's TargetMachine at level `opt`, for optimising and emitting modules (no
    engine takes it): built once per thread, as each costs milliseconds and a graph's kernels
    are compiled module by module."""
    machines = _tls.__dict__.setdefault("machines", {})
    if opt not in machines:
        machines[opt] = target_machine(opt)
    return machines[opt]


def cache_key_parts() -> tuple[str, ...]:
    """What an object depends on besides the IR: CPU, features, code model, level, llvmlite."""
    h = host()
    return h["cpu"], h["features"], CODE_MODEL, OPT_LEVEL, llvmlite.__version__


# The IR pipeline's level. O2 halves the compile time of a CNN's training step against O3
# (LeNet-5's: 5.2 -> 2.5 s; the MNIST CNN's: 3.0 -> 1.7 s) and ran every benchmarked step as fast
# (within the machine's noise): the hot loops are written out as vector IR already (the matmul
# micro-kernels), and both levels vectorise the rest.
OPT_LEVEL = 2


def optimize(llvm_ir: str, opt: int = OPT_LEVEL):
    """Parse, verify and optimise IR text (O2 by default) with loop and SLP vectorisation;
    returns a module."""
    init()
    # a context per module: the global one interns every constant and type forever (~10 KB
    # per compiled graph); the module keeps its context alive
    mod = llvm.parse_assembly(llvm_ir, context=llvm.create_context())
    mod.verify()
    tm = _thread_machine(opt)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    try:
        mpm.run(mod, pb)
    finally:
        _dispose_pass_manager(mpm)
    return mod


def _dispose_pass_manager(mpm) -> None:
    """Free a ModulePassManager: llvmlite 0.50 never does (its ObjectRef base's no-op _dispose
    wins the MRO over NewPassManager._dispose), which leaked ~55 KB per optimised module."""
    from llvmlite.binding import ffi
    if not getattr(mpm, "_closed", True):
        ffi.lib.LLVMPY_DisposeNewModulePassManger(mpm)
        mpm.detach()


def emit_object(mod) -> bytes:
    """Native object code for an optimised module."""
    return _thread_machine(3).emit_object(mod)


def emit_assembly(mod) -> str:
    """Native assembly text for an optimised module."""
    return target_machine().emit_assembly(mod)


def _lljit():
    with _lock:
        if "lljit" not in _state:
            _state["lljit"] = llvm.create_lljit_compiler(target_machine())
        return _state["lljit"]


class Loaded:
    """A loaded object: symbol addresses; keeps the JIT resources alive as long as it lives."""

    def __init__(self, objs: bytes | list[bytes], symbols: list[str], process: bool = False,
                 imports: dict[str, int] | None = None):
        init()
        lj = _lljit()
        builder = llvm.JITLibraryBuilder()
        for obj in [objs] if isinstance(objs, bytes) else objs:   # linked into one library
            builder = builder.add_object_img(obj)
        if process:  # resolve C library symbols (pthreads) from this process
            builder = builder.add_current_process()
        for name, addr in (imports or {}).items():
            builder = builder.import_symbol(name, addr)
        for s in symbols:
            builder = builder.export_symbol(s)
        with _lock:
            self._tracker = builder.link(lj, f"graphc_{next(_names)}")
        self.addresses = {s: self._tracker[s] for s in symbols}
