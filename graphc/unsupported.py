"""Clear errors for the torch names graphc does not have yet.

Programs written for PyTorch run with `import graphc as torch`, so a name graphc lacks must say so
plainly, at the user's line, instead of a raw AttributeError (or a NumPy error further on):

- `module_getattr(modname, namespace)` makes a PEP 562 module `__getattr__` for graphc, graphc.nn,
  graphc.nn.functional, graphc.optim: it fires only for names the module does not define, so it
  never shadows a real one, and raises `NotSupportedError` (a GraphcError and an AttributeError,
  so `hasattr(graphc.nn, "Conv3d")` is simply False and `getattr(x, name, default)` works);
- torch namespaces graphc lacks entirely (`graphc.fft`, `graphc.special`, `graphc.jit`, ...) are
  stub modules made on import by a finder placed *last* on sys.meta_path: a real graphc/fft.py
  (or package) added later always wins, and the stub's every attribute is a NotSupportedError;
- `Tensor.__getattr__` uses `missing_method`.

`from graphc.nn import Conv3d` would be Python's bare ImportError "cannot import name 'Conv3d'"
(the import statement turns any AttributeError into that), so when the caller is executing
IMPORT_FROM the error is a NotSupportedImportError (GraphcError + ImportError) instead.
"""
from __future__ import annotations

import difflib
import dis
import importlib.abc
import importlib.machinery
import os
import sys

from .errors import NotSupportedError, NotSupportedImportError

_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
README = "see README.md, 'What is supported'"

# torch namespaces graphc has no module for: stub modules (name -> a few real attributes)
STUBS: dict[str, dict] = {
    "graphc.fft": {}, "graphc.linalg": {}, "graphc.special": {}, "graphc.distributions": {},
    "graphc.jit": {}, "graphc.onnx": {}, "graphc.sparse": {}, "graphc.hub": {},
    "graphc.profiler": {}, "graphc.backends": {}, "graphc.testing": {},
    "graphc.cuda": {"is_available": lambda: False, "device_count": lambda: 0},
    "graphc.mps": {"is_available": lambda: False},
    "graphc.nn.init": {}, "graphc.nn.utils": {}, "graphc.optim.lr_scheduler": {},
    "graphc.utils": {}, "graphc.utils.data": {}, "graphc.utils.tensorboard": {},
    "graphc.utils.checkpoint": {}, "graphc.nn.utils.rnn": {},
    "graphc.autograd.functional": {},
    "graphc.ao.quantization.quantize_fx": {}, "graphc.ao.quantization.qconfig_mapping": {},
    "graphc.ao.quantization.quantize_pt2e": {}, "graphc.ao.quantization.quantizer": {},
    "graphc.quantization.quantize_fx": {},
}
_EAGER_ONLY = ("graphc quantizes in eager mode only (QuantStub/DeQuantStub, fuse_modules, "
               "prepare / prepare_qat, convert: see README.md, 'Quantization'); FX graph mode "
               "and PT2E quantization are not in it")
NOTES = {
    "graphc.cuda": "graphc compiles for the CPU (one process uses every core)",
    "graphc.mps": "graphc compiles for the CPU (one process uses every core)",
    "graphc.jit": "use graphc.compile to compile a function or Module",
    "graphc.onnx": "graphc has no ONNX export",
    **{m: _EAGER_ONLY for m in ("graphc.ao.quantization", "graphc.quantization",
                                "graphc.ao.quantization.quantize_fx",
                                "graphc.ao.quantization.qconfig_mapping",
                                "graphc.ao.quantization.quantize_pt2e",
                                "graphc.ao.quantization.quantizer",
                                "graphc.quantization.quantize_fx")},
}


def user_where() -> str:
    """`file:line` of the innermost frame outside graphc (the user's code)."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not (os.path.abspath(fn).startswith(_PKG) or fn.startswith("<frozen")):
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


def _suggest(name: str, names) -> str:
    close = difflib.get_close_matches(name, [n for n in names if not n.startswith("_")], n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def not_supported(what: str, name: str, names=(), note: str | None = None) -> NotSupportedError:
    """The NotSupportedError for `what` (e.g. graphc.nn.Conv3d)."""
    torch_name = "torch" + what[len("graphc"):] if what.startswith("graphc") else what
    msg = (f"{what} is not supported yet (graphc implements part of PyTorch's API, and "
           f"{torch_name} is not in it; {note or README}){_suggest(name, names)} "
           f"(at {user_where()})")
    return NotSupportedError(msg, name=name)


def module_getattr(modname: str, namespace: dict):
    """A module __getattr__ (PEP 562): stub submodules load, any other public name raises."""
    def __getattr__(name: str):
        if name.startswith("_"):
            raise AttributeError(f"module {modname!r} has no attribute {name!r}")
        full = f"{modname}.{name}"
        if full in STUBS:
            return importlib.import_module(full)   # the real module if one exists, else a stub
        pkg = sys.modules.get(modname)
        if getattr(pkg, "__path__", None) and importlib.machinery.PathFinder.find_spec(
                full, pkg.__path__) is not None:
            return importlib.import_module(full)   # a real submodule not imported yet
        err = not_supported(full, name, list(namespace), NOTES.get(modname))
        if _importing_from(sys._getframe(1)):
            # `from graphc.nn import Conv3d`: Python turns any AttributeError into a bare "cannot
            # import name"; an ImportError subclass keeps this message
            raise NotSupportedImportError(str(err), name=modname) from None
        raise err
    return __getattr__


def _importing_from(frame) -> bool:
    """True when `frame` is executing a `from module import name` (IMPORT_FROM) right now."""
    try:
        return frame.f_code.co_code[frame.f_lasti] == _IMPORT_FROM
    except (AttributeError, IndexError):
        return False


_IMPORT_FROM = dis.opmap.get("IMPORT_FROM", -1)


def missing_method(obj, name: str):
    """For Tensor.__getattr__: a torch Tensor method or attribute graphc lacks."""
    cls = type(obj).__name__
    if name.startswith("_"):
        return AttributeError(f"{cls!r} object has no attribute {name!r}")
    return not_supported(f"Tensor.{name}", name, dir(type(obj)))


def numpy_args(v):
    """`v` with every graphc Tensor (in tuples, lists and dicts too) replaced by its array; a
    traced tensor raises the TraceError that says why its value is not known yet."""
    if hasattr(v, "numpy") and type(v).__module__.startswith("graphc"):
        return v.numpy()
    if isinstance(v, (list, tuple)):
        return type(v)(numpy_args(x) for x in v)
    if isinstance(v, dict):
        return {k: numpy_args(x) for k, x in v.items()}
    return v


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        """The default module object."""
        return None

    def exec_module(self, module):
        """Fill a stub: its few real attributes and a __getattr__ raising NotSupportedError."""
        name = module.__name__
        module.__doc__ = f"Stub: {name} is not supported by graphc yet (torch{name[6:]})."
        module.__dict__.update(STUBS[name])
        module.__getattr__ = module_getattr(name, module.__dict__)
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)


class _StubFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: only names no real module answers for reach it."""

    def find_spec(self, fullname, path=None, target=None):
        """A stub's spec for the names in STUBS (reached only when no real module exists)."""
        if fullname in STUBS:
            return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
        return None


def install() -> None:
    """Put the stub finder last on sys.meta_path."""
    if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        sys.meta_path.append(_StubFinder())

