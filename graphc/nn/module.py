"""nn.Module and its containers, with PyTorch's names and habits."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Iterator

import numpy as np

from .. import dtypes
from ..driver import tracing
from ..errors import GraphcError
from ..tensor import Tensor, contiguous
from .parameter import Buffer, Parameter


_MISSING = object()
_SETTINGS = (int, float, bool, str, tuple, type(None))   # compared by value, not identity


# torch.nn.Module methods graphc does not have: a NotSupportedError (still an AttributeError)
_TORCH_ONLY = frozenset((
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "get_extra_state",
    "set_extra_state", "set_submodule", "to_empty", "half", "bfloat16", "compile", "ipu", "xpu",
    "mtia"))


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result, as torch's: (missing_keys, unexpected_keys) by name or index."""


def _same_setting(a, b) -> bool:
    """Whether two settings of one type are equal by value; a tuple only when every item is a
    plain number, string or None (a tuple holding tensors, an LSTM's hidden state, is a new
    value whenever it is assigned: comparing tensors would be elementwise)."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(type(x) is type(y) and type(x) in _SETTINGS
                                        and _same_setting(x, y) for x, y in zip(a, b))
    return a == b


class Module:
    """Base class of models: register Parameters and sub-Modules as attributes, define forward()."""

    training = True   # class defaults: plain attribute reads (compiled calls read both every call)
    _version = 0
    # bumped by every attribute assignment, deletion, train()/eval() and new module anywhere:
    # a compiled function whose guards depend on modules only skips them while it is unchanged
    epoch = 0

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_version", 0)  # bumped when a parameter/buffer/child changes
        Module.epoch += 1  # after every change: a key read meanwhile is then never reused

    # ---- registration ------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise GraphcError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                              f"assigning attribute {name!r}")
        try:
            self._graphc_setattr(name, value)
        finally:
            Module.epoch += 1

    def _graphc_setattr(self, name: str, value: Any) -> None:
        old = [d.pop(name, None) for d in (self._parameters, self._buffers, self._modules)]
        if isinstance(value, (Buffer, Parameter, Module)) or any(v is not None for v in old):
            # compiled functions guard on this: a replaced parameter or layer means a retrace
            object.__setattr__(self, "_version", self.__dict__.get("_version", 0) + 1)
        if isinstance(value, Buffer):
            self._buffers[name] = value
        elif isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            before = self.__dict__.get(name, _MISSING)
            same = type(before) is type(value) and type(value) in _SETTINGS and \
                _same_setting(before, value)
            if before is not value and not same:
                # a setting a traced forward may have read (Dropout.p, a kernel size, a new
                # callable): compiled functions retrace instead of running the old value
                object.__setattr__(self, "_version", self.__dict__.get("_version", 0) + 1)
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        if name in _TORCH_ONLY:
            from ..unsupported import not_supported
            raise not_supported(f"graphc.nn.Module.{name}", name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        try:
            for d in (self._parameters, self._buffers, self._modules):
                if name in d:
                    del d[name]
                    object.__setattr__(self, "_version", self.__dict__.get("_version", 0) + 1)
                    return
            object.__delattr__(self, name)
        finally:
            Module.epoch += 1

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` as `name` (None leaves the attribute None, as a missing bias)."""
        if param is None:
            self.__dict__[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A non-learnable array read by compiled code as graph state; in state_dict unless
        `persistent=False` (as torch's)."""
        setattr(self, name, Buffer(value))
        skip = self.__dict__.setdefault("_non_persistent_buffers_set", set())
        (skip.discard if persistent else skip.add)(name)

    def add_module(self, name: str, module: "Module") -> None:
        """Register `module` as the sub-module `name`."""
        setattr(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at dotted path `target` ("" is this module), as torch's."""
        mod = self
        for item in target.split(".") if target else ():
            sub = mod._modules.get(item)
            if sub is None:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = sub
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path `target` ("layer.weight"), as torch's."""
        return self._get_entry(target, "_parameters", "parameter")

    def get_buffer(self, target: str):
        """The buffer at dotted path `target`, as torch's."""
        return self._get_entry(target, "_buffers", "buffer")

    def _get_entry(self, target: str, table: str, what: str):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in getattr(mod, table):
            raise AttributeError(f"{type(mod).__name__} has no {what} `{name}`")
        return getattr(mod, table)[name]

    # ---- traversal ---------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo=None) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module and every sub-module, each once, depth first."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator["Module"]:
        """This module and every sub-module, each once."""
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for the direct sub-modules."""
        return iter(self._modules.items())

    def children(self) -> Iterator["Module"]:
        """The direct sub-modules."""
        return iter(self._modules.values())

    def _named(self, attr: str, prefix: str, recurse: bool):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in getattr(m, attr).items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mp}.{name}" if mp else name), p

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, each parameter once; sub-modules too if `recurse`."""
        return self._named("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The Parameters, each once; those of sub-modules too if `recurse`."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Buffer) pairs, each buffer once; sub-modules too if `recurse`."""
        return self._named("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        """The buffers, each once; those of sub-modules too if `recurse`."""
        return (b for _, b in self.named_buffers(recurse=recurse))

    # ---- state -------------------------------------------------------------------------------
    def _state_items(self, prefix: str = ""):
        """(dotted name, Parameter or Buffer) in torch's state_dict order: each module's own
        parameters, then its persistent buffers, then its children's, recursively; a shared
        parameter or layer appears under every name it has (as torch's)."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        skip = self.__dict__.get("_non_persistent_buffers_set", ())
        for name, b in self._buffers.items():
            if name not in skip:
                yield prefix + name, b
        for name, m in self._modules.items():
            yield from m._state_items(f"{prefix}{name}.")

    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name, in torch's order, as detached
        Tensors sharing the arrays compiled code updates (as PyTorch's: `np.asarray(v)` is the
        live array, `v.clone()` a copy); `keep_vars=True` gives the Parameters themselves."""
        out = OrderedDict() if destination is None else destination
        for k, v in self._state_items(prefix):
            out[k] = v if keep_vars else Tensor._wrap(v._data)
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays (NumPy, graphc or torch tensors) into this model's parameters, in place."""
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise GraphcError(f"load_state_dict into {type(self).__name__}: missing keys {missing}, "
                              f"unexpected keys {unexpected}")
        staged = []
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "cpu") else v)
            if arr.shape != p._data.shape:
                raise GraphcError(f"load_state_dict: {k} has shape {list(arr.shape)} in the "
                                  f"state dict but {list(p._data.shape)} in the model")
            staged.append((p, arr))
        for p, arr in staged:  # all checked before anything is written
            np.copyto(p._data, arr.astype(p._data.dtype, copy=False))
        return _IncompatibleKeys(missing, unexpected)

    def to(self, *args, **kwargs) -> "Module":
        """As torch's Module.to: `to(device)`, `to(dtype)`, `to(device, dtype)`, `to(tensor)`.

        A device must be the CPU (anything else raises a DeviceError); a dtype must be floating
        and converts every floating-point parameter and buffer (same objects, new arrays)."""
        from ..device import check_device, device
        kwargs.pop("non_blocking", None), kwargs.pop("memory_format", None)
        dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, device, int)) and not isinstance(a, bool):
                dev = a
            elif a is not None:
                dtype = a
        check_device(dev)
        if dtype is None:
            return self
        dt = dtypes.as_dtype(dtype)
        if not dt.is_float:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired "
                            f"dtype={dt!r}")
        for p in list(self.parameters()) + list(self.buffers()):
            if p._data.dtype.kind == "f" and p._data.dtype != dt.np:
                p._data = contiguous(p._data.astype(dt.np))  # same object, new array
        return self

    def cpu(self) -> "Module":
        """The module itself: its tensors are on the CPU already."""
        return self

    def cuda(self, device=None) -> "Module":
        """Raises a DeviceError: graphc has no CUDA (graphc.cuda.is_available() is False)."""
        from ..device import check_device
        check_device("cuda" if device is None else device if not isinstance(device, int)
                     else f"cuda:{device}")
        return self

    def share_memory(self) -> "Module":
        """Move parameters and buffers into shared memory (torch's share_memory): child
        processes given this module (graphc.multiprocessing.Process) update one copy."""
        from ..sharing import share_module
        return share_module(self)

    def double(self) -> "Module":
        """Convert floating-point parameters and buffers to float64; returns self."""
        return self.to(dtypes.float64)

    def float(self) -> "Module":
        """Convert floating-point parameters and buffers to float32; returns self."""
        return self.to(dtypes.float32)

    def requires_grad_(self, flag: bool = True) -> "Module":
        """Set `requires_grad` on every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's .grad to None (`set_to_none` is accepted as in torch)."""
        for p in self.parameters():
            p.grad = None

    # ---- modes and calling -------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (`mode`) on this module, then call every child's `train(mode)` (as
        torch, so a subclass overriding train() - a frozen QAT BatchNorm - keeps its rule);
        returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self._modules.values():
            m.train(mode)
        Module.epoch += 1
        return self

    def eval(self) -> "Module":
        """Set evaluation mode, as train(False); returns self."""
        return self.train(False)

    def apply(self, fn) -> "Module":
        """Call `fn` on every sub-module (children first), then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def forward(self, *args, **kwargs):
        """The module's computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if tracing.current() is None:
            # eager use on NumPy arrays: run op by op on the interpreter, return Tensors
            args = tuple(Tensor(a) if isinstance(a, np.ndarray) else a for a in args)
            kwargs = {k: Tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        return self.forward(*args, **kwargs)

    # ---- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Extra text inside this module's repr; subclasses override it."""
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order: Sequential(a, b, c) or Sequential(OrderedDict(...))."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        """Each sub-module applied in turn: the output of one is the input of the next."""
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return Sequential(*mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, m: Module) -> "Sequential":
        """Add `m` as the last module; returns self."""
        self.add_module(str(len(self)), m)
        return self


class ModuleList(Module):
    """A list of sub-modules whose parameters the parent sees (e.g. one head per task)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m: Module) -> "ModuleList":
        """Add `m` at the end; returns self."""
        self.add_module(str(len(self)), m)
        return self

    def extend(self, mods) -> "ModuleList":
        """Append each module of `mods`; returns self."""
        for m in mods:
            self.append(m)
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return ModuleList(mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, *args):
        """Raises GraphcError: a ModuleList has no forward; call its modules instead."""
        raise GraphcError("ModuleList has no forward(); iterate over it and call its modules")


class ModuleDict(Module):
    """A dict of sub-modules, keyed by name."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, k):
        return self._modules[k]

    def __setitem__(self, k, m):
        self.add_module(k, m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        """The sub-module names, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The sub-modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """(name, module) pairs, in insertion order."""
        return self._modules.items()
