"""Tensors a traced step leaves in Python variables: rebound globals, closure cells, attributes.

`global m; m = 0.9 * m + 0.1 * x.mean(0)` or `self.out = h` inside a compiled step stores a traced
tensor where Python code reads it after the call. As torch does, each such slot gets the value the
step computed: the trace makes it an extra graph output, written back as a fresh Tensor after
every call (Entry.escapes). A slot whose previous value the step read (baked in as a constant on
the first trace) becomes a graph input read from the slot on every call: PyState retraces once
with it as input. A registered buffer rebound to a value of its type (`self.running_mean = ...`
in an nn.Module) is updated in place, as graph state. What cannot be kept (a tensor appended to a
list, stored in an object made during the step, or a rebound parameter) is a TraceError naming
the variable.
"""
from __future__ import annotations

import inspect
import types
from typing import Any

import numpy as np

from ..errors import TraceError
from ..nn.module import Module
from ..nn.parameter import Buffer, Parameter
from ..tensor import Tensor

ABSENT = object()   # a slot with no value (a global not yet defined, an attribute not yet set)
_LEAF = (types.ModuleType, type, types.FunctionType, types.MethodType, types.BuiltinFunctionType,
         int, float, complex, str, bytes, bool, type(None), np.ndarray, np.generic, Tensor)
_MODULE_INTERNAL = frozenset(("_parameters", "_buffers", "_modules", "training", "_version"))
_MAX_ITEMS = 1024   # larger lists/dicts (a dataset) are not searched
_MAX_OBJECTS = 4096


class Slot:
    """One place a Python value lives: a closure cell, a global, an attribute or a list/dict item."""

    __slots__ = ("holder", "kind", "label", "name")

    def __init__(self, kind: str, holder, name, label: str):
        self.kind, self.holder, self.name, self.label = kind, holder, name, label

    @property
    def key(self) -> tuple:
        """What identifies this place (kind, holder's identity, name) across calls."""
        return (self.kind, id(self.holder), self.name)

    def get(self):
        """The value at this place now (ABSENT if there is none)."""
        h, k = self.holder, self.name
        if self.kind == "cell":
            try:
                return h.cell_contents
            except ValueError:
                return ABSENT
        if self.kind == "global":
            return h.get(k, ABSENT)
        if self.kind == "attr":
            v = h.__dict__.get(k, ABSENT)
            if v is ABSENT and isinstance(h, Module):
                v = h._buffers.get(k, ABSENT)
            return v
        if isinstance(h, dict):
            return h.get(k, ABSENT)
        return h[k] if k < len(h) else ABSENT

    def set(self, value) -> None:
        """Store `value` (ABSENT: remove it) without Module.__setattr__'s bookkeeping."""
        h, k = self.holder, self.name
        if self.kind == "cell":
            if value is ABSENT:
                try:
                    del h.cell_contents
                except ValueError:
                    pass
            else:
                h.cell_contents = value
        elif self.kind == "attr":
            if isinstance(h, Module) and isinstance(value, Buffer):   # back into its registration
                h.__dict__.pop(k, None)
                h._buffers[k] = value
            elif value is ABSENT:
                h.__dict__.pop(k, None)
            else:
                h.__dict__[k] = value
        elif value is ABSENT:
            if isinstance(h, dict):   # (an item appended to a list: the list is restored whole)
                h.pop(k, None)
        else:
            h[k] = value

    def array(self) -> np.ndarray:
        """The slot's tensor as a graph input (guard_key made sure of its shape and dtype)."""
        v = self.get()
        if type(v) is not Tensor or v._data is None:
            raise TraceError(f"{self.label} no longer holds a tensor the compiled step can read")
        return np.asarray(v._data, order="C")


def signature(v) -> Any:
    """What a trace reading `v` as an input depends on: its shape and dtype, or the Python value."""
    if type(v) is Tensor and v._data is not None:
        return (v._data.shape, v._data.dtype.str)
    return ("py", type(v).__name__, v if isinstance(v, (bool, int, float, str)) else id(v))


def _traced(v) -> bool:
    return isinstance(v, Tensor) and v._value is not None


def _names(code) -> list[str]:
    names = list(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names += _names(c)
    return names


class Walk:
    """The slots a step can reach: its cells and globals (and those of the helpers it calls), the
    attributes of the objects they hold (all sub-modules of a Module), list and dict items."""

    def __init__(self, fn, module: Module | None = None):
        self.slots: list[tuple[Slot, Any]] = []
        self.containers: list[tuple[Any, Any]] = []   # (list or dict, a shallow copy)
        self.modules: list[Module] = []
        self.holders: set[int] = set()
        self._seen: set[int] = set()
        if module is not None:
            self._obj("self", module, 1)
        else:
            self._func(fn, 0, set())

    def _func(self, f, depth: int, seen: set) -> None:
        if inspect.ismethod(f):
            self._obj("self", f.__self__, 1)
            f = f.__func__
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        follow = []
        for name, c in zip(code.co_freevars, f.__closure__ or ()):
            s = Slot("cell", c, None, name)
            v = s.get()
            self._add(s, v, 1)
            follow.append(v)
        g = getattr(f, "__globals__", None)
        if g is not None:
            self.holders.add(id(g))
            for name in dict.fromkeys(_names(code)):
                if name in g:
                    self._add(Slot("global", g, name, name), g[name], 1)
                    follow.append(g[name])
        for v in getattr(f, "__defaults__", None) or ():
            self._obj("default", v, 1)
        if depth < 3:
            for v in follow:
                if inspect.isfunction(v) or inspect.ismethod(v):
                    self._func(v, depth + 1, seen)

    def _add(self, slot: Slot, v, depth: int) -> None:
        self.slots.append((slot, v))
        self._obj(slot.label, v, depth)

    def _obj(self, label: str, o, depth: int) -> None:
        from ..optim.optimizer import Optimizer
        if isinstance(o, (*_LEAF, Optimizer)) or id(o) in self._seen or \
                depth > 3 or len(self._seen) > _MAX_OBJECTS:
            return
        self._seen.add(id(o))
        if isinstance(o, Module):
            for mname, m in o.named_modules():
                self._seen.add(id(m))
                self.holders.add(id(m))
                self.modules.append(m)
                mlabel = f"{label}.{mname}" if mname else label
                for k, v in list(m.__dict__.items()):
                    if k not in _MODULE_INTERNAL:
                        self._add(Slot("attr", m, k, f"{mlabel}.{k}"), v, depth + 1)
                for k, v in m._buffers.items():
                    self.slots.append((Slot("attr", m, k, f"{mlabel}.{k}"), v))
            return
        if isinstance(o, (list, dict, tuple)):
            if len(o) > _MAX_ITEMS:
                return
            if not isinstance(o, tuple):
                self.holders.add(id(o))
                self.containers.append((o, o.copy()))
            for k, v in (o.items() if isinstance(o, dict) else enumerate(o)):
                self._add(Slot("item", o, k, f"{label}[{k!r}]"), v, depth + 1)
            return
        d = getattr(o, "__dict__", None)
        if isinstance(d, dict):
            self.holders.add(id(o))
            for k, v in list(d.items()):
                self._add(Slot("attr", o, k, f"{label}.{k}"), v, depth + 1)


class Snapshot:
    """The slots before a trace, the slot inputs installed for it, and the modules' versions."""

    def __init__(self, fn, module):
        w = Walk(fn, module)
        self.fn, self.module = fn, module
        self.before = {s.key: (s, v) for s, v in w.slots}
        self.holders = w.holders
        self.containers = w.containers
        self.versions = [(m, m.__dict__.get("_version", 0), m._buffers.copy()) for m in w.modules]
        self.installed: dict[tuple, Tensor] = {}

    def install(self, tr, reads: dict, getters: list) -> None:
        """Each slot whose value an earlier trace of this step read becomes a graph input."""
        for key, slot in reads.items():
            v = slot.get()
            if type(v) is not Tensor or v._data is None or v.requires_grad:
                continue
            arr = np.asarray(v._data, order="C")
            t = Tensor._symbolic(tr.add_input(slot.label, arr), tr)
            slot.set(t)
            self.installed[key] = t
            getters.append(slot.array)

    def settle(self, tr, reads: dict) -> tuple[list[tuple[Slot, Tensor]], list[Slot]]:
        """(slot, traced tensor) for each slot to write back after a call, and the slots that
        must become inputs (their old value was baked in): the caller then traces again."""
        escapes, new_reads = [], []
        for slot, cur in Walk(self.fn, self.module).slots:
            if not _traced(cur):
                continue
            key = slot.key
            if self.installed.get(key) is cur:
                continue
            if cur._trace is not tr:
                raise TraceError(f"{slot.label} holds a traced tensor ({cur.type}) from another "
                                 "trace; assign it a value computed in this call")
            pre = self.before.get(key, (None, ABSENT))[1]
            if isinstance(pre, Parameter):
                if isinstance(pre, Buffer) and pre.type == cur.type:
                    tr.assign(pre, cur._value)   # a registered buffer: updated in place
                    continue
                raise TraceError(
                    f"the compiled step rebinds {slot.label}, a {type(pre).__name__} of "
                    f"{pre.type}, to a computed {cur.type}; update it in place instead "
                    f"({slot.label}.data.copy_(...) or `{slot.label} -= ...` under no_grad)")
            if isinstance(pre, Tensor) and pre.requires_grad and pre.is_leaf and not _traced(pre):
                raise TraceError(
                    f"the compiled step rebinds {slot.label}, a tensor requiring grad, to a "
                    f"computed {cur.type}; update it in place instead (`{slot.label}.data = ...` "
                    f"or `{slot.label} -= ...` under no_grad)")
            if slot.kind in ("attr", "item") and id(slot.holder) not in self.holders or \
                    slot.kind == "item" and (
                    isinstance(slot.holder, tuple) or
                    isinstance(slot.holder, list) and pre is ABSENT):
                raise TraceError(
                    f"{slot.label} holds a tensor computed in the compiled step ({cur.type}), "
                    "in a list, tuple or object the step created or grew: it cannot be kept "
                    "after the call. Return the tensor from the step instead")
            escapes.append((slot, cur))
            if type(pre) is Tensor and pre._data is not None and id(pre._data) in tr.baked \
                    and key not in reads:
                new_reads.append(slot)
        return escapes, new_reads

    def restore(self) -> None:
        """Take every traced tensor out of the slots (each gets its value from before)."""
        touched = set()
        for slot, cur in Walk(self.fn, self.module).slots:
            if _traced(cur) or slot.key in self.installed or _holds_traced(cur):
                pre = self.before.get(slot.key, (None, ABSENT))[1]
                if not (slot.kind == "item" and isinstance(slot.holder, tuple)):
                    slot.set(pre)
                touched.add(id(slot.holder))
        for c, saved in self.containers:
            if any(map(_traced, c.values() if isinstance(c, dict) else c)):
                if isinstance(c, dict):
                    c.clear()
                    c.update(saved)
                else:
                    c[:] = saved
        for m, version, buffers in self.versions:
            if id(m) in touched:   # the trace's `self.x = ...` is no change of the module
                object.__setattr__(m, "_version", version)
                if list(m._buffers.items()) != list(buffers.items()):
                    m._buffers.clear()
                    m._buffers.update(buffers)


def _holds_traced(v) -> bool:
    if isinstance(v, (list, tuple)) and len(v) <= _MAX_ITEMS:
        return any(map(_traced, v))
    if isinstance(v, dict) and len(v) <= _MAX_ITEMS:
        return any(map(_traced, v.values()))
    return False


def write_back(escapes: list[Slot], arrays) -> None:
    """After a call: each escape slot gets a fresh Tensor on its output array."""
    for slot, a in zip(escapes, arrays):
        slot.set(Tensor._wrap(np.asarray(a)))
