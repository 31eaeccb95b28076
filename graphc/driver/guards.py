"""The Python objects a compiled function reads and changes: modules, optimizers, `.grad` slots.

A trace runs the user's Python once. What that run did to Python-side state must be replayed on
every later call, and what it depended on must be checked (guarded) before reusing the trace:

- guards: module train/eval flags, which parameters have a `.grad`, each optimizer's
  hyperparameters (except lr) and the structure of its `state`; a change retraces, as torch.compile
  does (so PyTorch's lazily created optimizer state costs one retrace after the first step);
- `group["lr"]` becomes a runtime input of the graph (a scheduler needs no recompilation), and so
  does every float hyperparameter a graphc optimizer's step() declares runtime (momentum, betas,
  eps, weight_decay...; optim.optimizer.runtime_hyperparameters): those are guarded only by
  their sign (which branches step() takes), so a momentum-cycling scheduler never retraces;
- tensors the trace leaves in `p.grad` or `optimizer.state[p][key]` become persistent graph state:
  NumPy arrays (nn.Buffer objects) that the compiled code updates in place.
"""
from __future__ import annotations

import dis
import functools
import inspect
import operator
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import escape
from ..errors import InputError, TraceError
from ..ir.graph import tensor_type
from ..nn.module import Module
from ..nn.parameter import Buffer, Parameter
from ..tensor import Tensor

MISSING = object()


class _Rebound:
    """guard_key() after a watched global/closure variable was rebound: equal to no key, not
    even itself, so a call that stored it (a step that rebinds a counter it reads) never hits
    the fast path with it."""

    def __eq__(self, other) -> bool:
        return False

    __hash__ = object.__hash__


REBOUND = _Rebound()


def _globals_and_cells(fn, depth: int = 0, seen=None) -> list[tuple[str, Any]]:
    """(name, object) pairs a function uses: bound self, closure cells, the globals it names.

    Plain Python functions it calls (helpers in the same program) are followed a few levels deep,
    so a step that calls `helper()` which uses a global optimizer still finds that optimizer.
    """
    seen = set() if seen is None else seen
    out: list[tuple[str, Any]] = []
    target = fn
    if inspect.ismethod(fn):
        out.append(("", fn.__self__))
        target = fn.__func__
    code = getattr(target, "__code__", None)
    if code is None or id(code) in seen:
        return out
    seen.add(id(code))
    for name, c in zip(code.co_freevars, target.__closure__ or ()):
        try:
            out.append((name, c.cell_contents))
        except ValueError:  # an empty cell
            pass
    g = getattr(target, "__globals__", {})
    for name in _names(code):
        if name in g:
            out.append((name, g[name]))
    for i, v in enumerate(getattr(target, "__defaults__", None) or ()):  # def step(x, opt=opt)
        out.append((f"default{i}", v))
    for k, v in (getattr(target, "__kwdefaults__", None) or {}).items():
        out.append((k, v))
    if depth < 3:
        for _, obj in list(out):
            if inspect.isfunction(obj) or inspect.ismethod(obj):
                out += _globals_and_cells(obj, depth + 1, seen)
    return out


def _global_loads(code) -> list[str]:
    """Names a code object (and the functions/lambdas/comprehensions inside it) loads as
    globals: LOAD_GLOBAL/LOAD_NAME only, not attribute names (co_names holds both)."""
    names = [i.argval for i in dis.get_instructions(code)
             if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
    for c in code.co_consts:
        if inspect.iscode(c):
            names += _global_loads(c)
    return names


_UNWATCHED = (types.ModuleType, type, types.BuiltinFunctionType)
_VALUES = (int, float, complex, str, bytes)   # watched by value: a new equal object is the same


def _watched(v) -> bool:
    """Bindings a trace depends on: rebinding one retraces. Everything but imported modules,
    classes and builtins; Python numbers and strings by value (`lr = 1.0` read by a step that
    updates `p.data.add_(p.grad, alpha=-lr)`, then `lr /= 4`: the new value retraces, as in
    torch.compile, instead of training on with the old one); an object of a type graphc does
    not know (a torch model left over from an earlier run) by identity too, since rebinding it
    to a graphc Module must be seen."""
    return not isinstance(v, _UNWATCHED)


def _same_binding(now, then) -> bool:
    """A watched binding unchanged: the same object, or an equal number or string."""
    return now is then or isinstance(then, _VALUES) and type(now) is type(then) and now == then


def binding_watch(fn, skip: frozenset = frozenset()) -> Callable[[], bool] | None:
    """A cheap check that the global names, closure cells and defaults `fn` (and the helpers it
    calls, as `_globals_and_cells` follows them) read still hold the same modules, optimizers,
    tensors and functions, as torch.compile guards them: `model = Net()` or
    `model, opt = get_model()` after compiling must retrace, not keep training the old objects.

    Runs on every call, so it is one `itemgetter(*names)(globals) == values` per globals dict
    (tuple equality compares identity first; values whose type defines __eq__, such as tensors,
    are compared with `is` instead), plus `is` checks of closure cells. None when nothing is
    watched. `skip`: the escape.Slot keys of variables the step itself rebinds every call."""
    groups: dict[int, tuple[dict, list, list]] = {}   # id(globals) -> (globals, names, values)
    strict: list[tuple[dict, str, Any]] = []           # (globals, name, value) compared with `is`
    absent: list[tuple[dict, str]] = []                # names defined later: retrace once bound
    cells: list[tuple[Any, Any]] = []
    defaults: list[tuple[Any, Any, Any]] = []
    attrs: list[tuple[Any, str, Any]] = []   # (plain object, attribute, number or string)
    items: list[tuple[dict, str, Any]] = []   # (dict, key, number or string)
    seen: set[int] = set()

    def walk(f, depth):
        if inspect.ismethod(f):
            f = f.__func__
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        found = []
        for c in f.__closure__ or ():
            if ("cell", id(c), None) in skip:
                continue
            try:
                v = c.cell_contents
            except ValueError:   # assigned later in the enclosing function
                cells.append((c, MISSING))
                continue
            if _watched(v):
                cells.append((c, v)); found.append(v)  # noqa: E702
        g = getattr(f, "__globals__", None)
        if g is not None:
            b = g.get("__builtins__", {})
            b = b if isinstance(b, dict) else vars(b)
            for name in dict.fromkeys(_global_loads(code)):
                if ("global", id(g), name) in skip:
                    continue
                if name in g:
                    v = g[name]
                    if not _watched(v):
                        continue
                    found.append(v)
                    if type(v).__eq__ is object.__eq__ or isinstance(v, _VALUES):
                        grp = groups.setdefault(id(g), (g, [], []))
                        grp[1].append(name); grp[2].append(v)  # noqa: E702
                    else:
                        strict.append((g, name, v))
                elif name not in b:
                    absent.append((g, name))
        for attr in ("__defaults__", "__kwdefaults__"):
            d = getattr(f, attr, None)
            vals = d.values() if isinstance(d, dict) else (d or ())
            if any(_watched(v) and v is not None for v in vals):
                defaults.append((f, attr, d))
        # numbers and strings the code reads as attributes of a plain object (`args.lr`) or
        # as items of a dict under a key it names (`state['it']`)
        names, consts = set(code.co_names), {c for c in code.co_consts if isinstance(c, str)}
        for v in found:
            if isinstance(v, dict) and len(v) <= 1024:
                items.extend((v, k, x) for k, x in list(v.items())
                             if k in consts and isinstance(x, _VALUES))
            elif _plain_object(v) and not isinstance(v, Module):
                attrs.extend((v, k, x) for k, x in list(vars(v).items())
                             if k in names and isinstance(x, _VALUES))
        if depth < 3:
            for v in found:
                if inspect.isfunction(v) or inspect.ismethod(v):
                    walk(v, depth + 1)

    walk(fn, 0)
    checks, may_raise = [], False
    for g, names, vals in groups.values():
        if len(names) == 1:
            checks.append(lambda get=g.get, n=names[0], want=vals[0]:
                          _same_binding(get(n, MISSING), want))
        else:
            may_raise = True   # KeyError when a watched global is deleted
            checks.append(lambda get=operator.itemgetter(*names), g=g, want=tuple(vals):
                          get(g) == want)
    if strict:
        checks.append(lambda: all([g.get(n, MISSING) is v for g, n, v in strict]))
    if absent:
        checks.append(lambda: not any([n in g for g, n in absent]))
    if cells:
        def cells_same():
            for c, v in cells:
                try:
                    if not _same_binding(c.cell_contents, v):
                        return False
                except ValueError:
                    if v is not MISSING:
                        return False
            return True
        checks.append(cells_same)
    if defaults:
        checks.append(lambda: all([getattr(f, a, None) is d for f, a, d in defaults]))
    if attrs:
        checks.append(lambda: all([_same_binding(getattr(o, a, MISSING), x) for o, a, x in attrs]))
    if items:
        checks.append(lambda: all([_same_binding(d.get(k, MISSING), x) for d, k, x in items]))
    if not checks:
        return None

    def same() -> bool:
        try:
            for check in checks:
                if not check():
                    return False
            return True
        except KeyError:   # a watched global was deleted
            return False
    return checks[0] if len(checks) == 1 and not may_raise else same


def _names(code) -> list[str]:
    """Global names used by a code object and the functions/lambdas defined inside it."""
    names = list(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names += _names(c)
    return names


def lr_dtype(group: dict):
    """The dtype of a param group's lr input: float64 when the group holds a float64 parameter
    (torch applies the Python double to it unrounded), else float32 (torch rounds the alpha of
    a float32 update to float)."""
    return np.float64 if any(p.dtype.np == np.float64 for p in group["params"]) else np.float32


def _lr_input(group: dict, name: str, dtype=np.float32) -> np.ndarray:
    """A param group's lr as the graph's scalar input of `dtype`; anything but a real number is
    refused before the call (np.asarray would turn None into NaN and "0.1" into 0.1)."""
    lr = group["lr"]
    if type(lr) is float:
        return np.asarray(lr, dtype)
    a = None
    if not isinstance(lr, (str, bytes, bool, type(None))):
        try:
            a = np.asarray(lr, dtype)
        except (TypeError, ValueError):
            pass
    if a is None or a.shape != ():
        raise InputError(f"optimizer {name} must be a real number, got {lr!r}; nothing was "
                         "updated")
    return a


def _is_real(v) -> bool:
    return type(v) in (int, float) or (isinstance(v, (int, float, np.floating, np.integer))
                                       and not isinstance(v, bool))


def _hyper_guard(v):
    """What a trace depends on in a runtime hyperparameter: its sign (step() branches on
    `weight_decay != 0`, `momentum > 0`), per item for a tuple (betas); anything but real
    numbers is guarded by value (and baked into the graph)."""
    if type(v) is float:  # the common case first: this runs on every call
        return _SIGNS[(v > 0) - (v < 0)] if v == v else "nan"
    if type(v) is tuple and len(v) == 2 and type(v[0]) is float and type(v[1]) is float:
        a, b = v
        return (tuple, _SIGNS[(a > 0) - (a < 0)] if a == a else "nan",
                _SIGNS[(b > 0) - (b < 0)] if b == b else "nan")
    if _is_real(v):
        return _SIGNS[(v > 0) - (v < 0)] if v == v else "nan"
    if isinstance(v, (tuple, list)) and v and all(_is_real(x) for x in v):
        return (type(v), *(_SIGNS[(x > 0) - (x < 0)] if x == x else "nan" for x in v))
    return v if type(v) in _PLAIN else _hashable(v)


_SIGNS = {-1: "sign<0", 0: "sign=0", 1: "sign>0"}   # never equal to a guarded plain value


def _runtime_keys(opt) -> frozenset:
    """The hyperparameters `type(opt).step` declares it reads as runtime inputs (none for a step
    that graphc did not write: a user's override reads Python values, which stay guarded)."""
    return getattr(type(opt).step, "runtime_hyperparameters", _NO_KEYS)


_NO_KEYS = frozenset()


class RuntimeHyperparameters:
    """A trace's runtime scalar inputs computed from optimizer hyperparameters, made when step()
    first asks (optim.Optimizer._hyper / _scalar) and recomputed from the param group on every
    call: each elementwise use reads a graph input, as it read a constant before, so fusion
    sees the same graph."""

    def __init__(self, tr, getters: list):
        self.tr, self.getters = tr, getters   # appended in input order, after the lrs
        self.groups: dict[int, tuple[dict, frozenset, Callable[[str], str]]] = {}
        self.made: dict[tuple, Tensor] = {}

    def value(self, group: dict, keys: tuple, fn: Callable, name: str, dtype) -> Tensor | None:
        """The scalar input `fn(*group values of keys)` as `dtype`, or None when the group or a
        key is not runtime (its optimizer's step did not declare it, or the value is no real
        number): the caller then uses the Python value, which the guards keep exact."""
        entry = self.groups.get(id(group))
        if entry is None:
            return None
        g, runtime, name_of = entry
        if not all(k == "lr" or (k in runtime and _is_reals(g.get(k))) for k in keys):
            return None
        dtype = np.dtype(dtype)
        key = (id(group), name, dtype.str)
        t = self.made.get(key)
        if t is None:
            tr = self.tr
            iname = name_of(name)
            v = tr.graph.add_input(tr.unique_name(iname, {x.name for x in tr.graph.inputs}),
                                   tensor_type((), dtype))
            t = self.made[key] = Tensor._symbolic(v, tr)
            if len(keys) == 1:  # the common case, called on every call: kept short
                k = keys[0]

                def get(g=g, k=k, fn=fn, dtype=dtype, asarray=np.asarray):
                    try:
                        return asarray(fn(g[k]), dtype)
                    except (TypeError, ValueError):
                        return _hyper_value(g, keys, fn, dtype, iname)
            else:
                def get():
                    return _hyper_value(g, keys, fn, dtype, iname)
            self.getters.append(get)
        return t


def _is_reals(v) -> bool:
    return _is_real(v) or (isinstance(v, (tuple, list)) and bool(v) and all(map(_is_real, v)))


def _hyper_value(group: dict, keys: tuple, fn: Callable, dtype, name: str) -> np.ndarray:
    """One runtime hyperparameter input's value for this call (the guards made sure the keys
    still hold real numbers; "lr" is checked here, as _lr_input does)."""
    try:
        return np.asarray(fn(*[group[k] for k in keys]), dtype)
    except (TypeError, ValueError):
        raise InputError(f"optimizer {name}: {', '.join(f'{k}={group[k]!r}' for k in keys)} "
                         "must be real numbers; nothing was updated") from None


@dataclass
class Snapshot:
    """Slots saved before a trace (grads, optimizer state, lrs), to restore after it."""

    grads: dict[int, Any] = field(default_factory=dict)
    opt_state: dict[tuple[int, int], dict] = field(default_factory=dict)
    lrs: list[tuple[dict, Any]] = field(default_factory=list)
    slots: Any = None     # escape.Snapshot: globals, cells and attributes the step reaches
    escapes: list = field(default_factory=list)   # (slot, traced tensor) to write back per call
    retrace: bool = False  # a slot the step read and rebinds must first become an input
    flags: list = field(default_factory=list)  # (module, its `training` before the trace)


class PyState:
    """What a compiled function touches in Python, found once from its globals and closure."""

    def __init__(self, fn, module: Module | None = None, prev: PyState | None = None):
        from ..optim.optimizer import Optimizer
        self.fn, self.module = fn, module
        # escape.Slot key -> slot: variables the step rebinds to a computed tensor (`rebound`),
        # and those of them whose old value it reads (`reads`: graph inputs, guarded by shape)
        self.rebound: dict[tuple, Any] = dict(prev.rebound) if prev is not None else {}
        self.reads: dict[tuple, Any] = dict(prev.reads) if prev is not None else {}
        self.modules: list[tuple[str, Module]] = [("", module)] if module is not None else []
        self.optimizers: list[tuple[str, Optimizer]] = []
        self.tensors: list[tuple[str, Tensor]] = []  # plain requires-grad leaves: trained like
        seen = {id(module)}                            # parameters (state of the graph)
        # a compiled Module is inference: its parameters are all it touches
        found = [] if module is not None else _globals_and_cells(fn)
        found += _held(_owners(found)) if module is None else []
        for name, obj in found:
            if id(obj) in seen:
                continue
            if isinstance(obj, Module):
                self.modules.append((name, obj)); seen.add(id(obj))  # noqa: E702
            elif isinstance(obj, Optimizer):
                self.optimizers.append((name, obj)); seen.add(id(obj))  # noqa: E702
            else:
                for tname, t in _trainable_tensors(name, obj):
                    if id(t) not in seen:
                        self.tensors.append((tname, t)); seen.add(id(t))  # noqa: E702
        self.names = self._param_names()
        self.params: list[Parameter] = []
        ids = set()
        for _, m in self.modules:
            for p in m.parameters():
                if id(p) not in ids:
                    ids.add(id(p)); self.params.append(p)  # noqa: E702
        for _, opt in self.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    if id(p) not in ids:
                        ids.add(id(p)); self.params.append(p)  # noqa: E702
        for _, t in self.tensors:
            if id(t) not in ids:
                ids.add(id(t)); self.params.append(t)  # noqa: E702
        # .grad of a plain tensor is a slot no epoch counts: guard_key then checks every call
        self.plain = any(not isinstance(p, Parameter) for p in self.params)
        self.all_modules = [m for _, root in self.modules for m in root.modules()]
        self._key_epoch, self._key = None, ()
        self.versions = self._versions()
        # the globals/cells/defaults the step read still hold the same objects (None: nothing
        # read); checked first by guard_key, on every call
        self._watch_bindings()

    def _watch_bindings(self) -> None:
        fn, module = self.fn, self.module
        skip = frozenset(k for k in self.rebound if k[0] in ("cell", "global"))
        self.bound = binding_watch(fn, skip) if module is None else None
        owners = [] if module is not None else _owners(_globals_and_cells(fn))
        held = _held(owners)
        if held:   # `self.optimizer = ...` / `trainer.model = ...` after compiling
            outer = self.bound

            def watch() -> bool:
                now = _held(owners)
                return (outer is None or outer()) and len(now) == len(held) and \
                    all(k == k0 and v is v0 for (k, v), (k0, v0) in zip(now, held))
            self.bound = watch

    def _module_key(self) -> tuple:
        return tuple(map(_TRAINING_VERSION, self.all_modules))

    def _versions(self) -> tuple:
        return tuple(map(_VERSION, self.all_modules))

    def stale(self) -> bool:
        """True when a parameter, buffer or sub-module was replaced, added or removed since this
        PyState looked at the modules (its parameter list and names are then out of date), or
        a global/closure variable the step reads was rebound to another object."""
        return (self.bound is not None and not self.bound()) or self._versions() != self.versions

    def _param_names(self) -> dict[int, str]:
        """id(parameter) -> a readable state name (`fc1.weight`), prefixed only to avoid clashes."""
        names: dict[int, str] = {}
        used: set[str] = set()
        for var, m in self.modules:
            for local, p in list(m.named_parameters()) + list(m.named_buffers()):
                if id(p) not in names:
                    name = local if local not in used else f"{var}.{local}"
                    names[id(p)] = name
                    used.add(name)
        for var, t in self.tensors:
            if id(t) not in names and var not in used:
                names[id(t)] = var
                used.add(var)
        k = 0
        for _, opt in self.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    if id(p) not in names:
                        names[id(p)] = f"param{k}"
                        k += 1
        return names

    # ---- guards ------------------------------------------------------------------------------
    def guard_key(self) -> tuple:
        """Everything Python-side the trace depended on; a different key means a retrace.

        Runs before every call, so it is cheap: optimizer state is compared by its keys and the
        identity of its values (buffers stay the same objects from call to call; a Python
        number that changes is a new object). Without an optimizer the key depends on modules
        and `.grad` slots only: it is reused while Module.epoch and Parameter.grad_epoch (bumped
        by every such assignment) are unchanged.
        """
        if self.bound is not None and not self.bound():
            return REBOUND   # equal to no key: the caller rebuilds this PyState and retraces
        if not self.optimizers and not self.plain and not self.reads:
            epoch = (Module.epoch, Parameter.grad_epoch)
            if self._key_epoch != epoch:
                self._key_epoch = epoch
                self._key = (self._module_key(), tuple([p.grad is None for p in self.params]))
            return self._key
        key: list = [self._module_key(), tuple([p.grad is None for p in self.params])]
        for _, opt in self.optimizers:
            state = opt.state
            rt = _runtime_keys(opt)
            for g in opt.param_groups:
                key.append(tuple(_hyper_guard(v) if k in rt else
                                 v if type(v) in _PLAIN else _hashable(v)
                                 for k, v in g.items() if k != "params" and k != "lr"))
                for p in g["params"]:
                    st = state.get(p)
                    key.append((tuple(st), tuple(map(id, st.values()))) if st else None)
        if self.reads:
            key.append(tuple([escape.signature(s.get()) for s in self.reads.values()]))
        return tuple(key)

    # ---- around a trace ----------------------------------------------------------------------
    def begin(self, tr) -> tuple[Snapshot, list[Callable[[], np.ndarray]]]:
        """Snapshot slots; make every param group's lr (and the hyperparameters its optimizer's
        step declares runtime) runtime scalar inputs of the graph."""
        snap = Snapshot()
        snap.flags = [(m, m.training) for m in self.all_modules]
        for _, opt in self.optimizers:  # state an eager step() made (plain tensors): buffers
            for st in opt.state.values():  # sharing their arrays, so the graph updates them
                for k, v in list(st.items()):
                    if type(v) is Tensor and not v.is_traced and not v.requires_grad:
                        st[k] = Buffer(v._data)
        for p in self.params:  # a .grad an eager backward() left: a buffer too (not a constant)
            if type(p.grad) is Tensor and not p.grad.is_traced:
                p.grad = Buffer(p.grad._data)
        snap.grads = {id(p): p.grad for p in self.params}
        for p in self.params:  # name existing grad/optimizer buffers after their parameter
            pname = self.names.get(id(p), "param")
            if isinstance(p.grad, Buffer):
                tr.state_names[id(p.grad)] = f"{pname}.grad"
            for _, opt in self.optimizers:
                for k, v in (opt.state.get(p) or {}).items():
                    if isinstance(v, Buffer):
                        tr.state_names[id(v)] = f"{pname}.{k}"
        getters = []
        n_groups = sum(len(opt.param_groups) for _, opt in self.optimizers)
        for oname, opt in self.optimizers:
            for i, g in enumerate(opt.param_groups):
                for p in g["params"]:
                    st = opt.state.get(p)
                    snap.opt_state[(id(opt), id(p))] = dict(st) if st else {}
                lr = g["lr"]
                name = "lr" if n_groups == 1 else f"{oname}.lr{i}"
                dt = lr_dtype(g)
                v = tr.graph.add_input(tr.unique_name(name, {x.name for x in tr.graph.inputs}),
                                       tensor_type((), dt))
                snap.lrs.append((g, lr))
                g["lr"] = Tensor._symbolic(v, tr)
                getters.append(lambda g=g, name=name, dt=dt: _lr_input(g, name, dt))
                rt = _runtime_keys(opt)
                if rt:
                    hyper = tr.__dict__.setdefault("hyperparameters",
                                                   RuntimeHyperparameters(tr, getters))
                    hyper.groups[id(g)] = (g, rt, (lambda k: k) if n_groups == 1 else
                                           (lambda k, o=oname, i=i: f"{o}.{k}{i}"))
        snap.slots = escape.Snapshot(self.fn, self.module)
        snap.slots.install(tr, self.reads, getters)
        return snap, getters

    def end(self, tr, snap: Snapshot) -> list[tuple[tuple, Any]]:
        """Turn tensors left in slots into state updates; return the slot effects to replay."""
        # train()/eval() the step itself calls: replayed after every call, as the trace ran it
        effects = [(("flag", m, "training"), m.training) for m, before in snap.flags
                   if m.training != before]
        known = {id(p) for p in self.params}
        for obj in tr.params.values():  # parameters reached some other way (attributes, ...)
            if isinstance(obj, Tensor) and id(obj) not in known and \
                    isinstance(obj.grad, Tensor) and obj.grad.is_traced:
                self.params.append(obj)
                known.add(id(obj))
                snap.grads[id(obj)] = None
                if not isinstance(obj, Parameter):
                    self.plain = True
        for p in self.params:
            pname = self.names.get(id(p), "param")
            slot = ("attr", p, "grad")
            effects += self._settle(tr, slot, snap.grads.get(id(p)), p.grad, f"{pname}.grad")
        for oname, opt in self.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    pre = snap.opt_state[(id(opt), id(p))]
                    cur = opt.state.get(p) or {}
                    pname = self.names.get(id(p), "param")
                    if not cur and not pre:
                        continue
                    for k in list(pre) + [k for k in cur if k not in pre]:
                        effects += self._settle(tr, ("state", opt, (p, k)), pre.get(k, MISSING),
                                                cur.get(k, MISSING), f"{pname}.{k}", opt)
        snap.escapes, new_reads = snap.slots.settle(tr, self.reads)
        added = [s for s, _ in snap.escapes if s.key not in self.rebound]
        for s in added:
            self.rebound[s.key] = s
        for s in new_reads:
            self.reads[s.key] = s
        snap.retrace = bool(new_reads)
        if any(s.kind in ("cell", "global") for s in added):
            self._watch_bindings()
        return effects

    def restore(self, snap: Snapshot) -> None:
        """Put every slot back as it was before the trace (traced tensors must not escape)."""
        for p in self.params:
            if id(p) in snap.grads:
                p.grad = snap.grads[id(p)]
        for _, opt in self.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    pre = snap.opt_state.get((id(opt), id(p)))
                    if pre is None:
                        continue
                    if pre:
                        opt.state[p] = dict(pre)
                    else:
                        opt.state.pop(p, None)
        for g, lr in snap.lrs:
            g["lr"] = lr
        if snap.slots is not None:
            snap.slots.restore()

    def _settle(self, tr, slot, pre, cur, name: str, opt=None) -> list:
        if cur is pre:
            return []
        if isinstance(cur, Tensor) and cur.is_traced:
            if cur._trace is not tr:
                raise TraceError(f"{name} holds a tensor from another trace")
            if isinstance(pre, Buffer) and pre.type == cur.type:
                tr.assign(pre, cur._value)   # same array, updated in place every call
                return [(slot, pre)] if _get(slot) is not pre else []
            buf = Buffer(np.zeros(cur.shape, cur.dtype.np))
            tr.state_names[id(buf)] = name
            tr.assign(buf, cur._value)
            return [(slot, buf)]
        if isinstance(cur, (bool, int, float)) and isinstance(pre, (bool, int, float)):
            raise TraceError(
                f"{type(opt).__name__ if opt else ''} state {name!r} is a Python number that "
                f"changed during the traced step ({pre} -> {cur}): it would be baked into the graph "
                "as a constant. Keep it as a tensor instead, e.g. state['step'] = "
                "graphc.tensor(0.0) and state['step'].add_(1)")
        return [(slot, cur)]


def _owners(found) -> list[tuple[str, Any]]:
    """The plain objects among the (name, object) pairs a step reads: a method's `self`, or a
    Trainer a closure cell or a global holds."""
    return [(name, obj) for name, obj in found if _plain_object(obj)]


def _held(owners) -> list[tuple[str, Any]]:
    """The optimizers and modules the `owners` hold as attributes (`self.opt.step()` in a method
    of a Trainer, or in a function defined inside one that closes over `self`): the step's own,
    as those it reads directly."""
    from ..optim.optimizer import Optimizer
    out = []
    for name, obj in owners:
        for k, v in list(vars(obj).items()):
            if isinstance(v, Optimizer) or (isinstance(v, Module) and not isinstance(obj, Module)):
                out.append((f"{name}.{k}" if name else k, v))
    return out


def _plain_object(obj) -> bool:
    """An instance of a user's class with attributes (a Trainer, a Module), not a function, a
    class, a Python module or a graphc value."""
    from ..optim.optimizer import Optimizer
    if isinstance(obj, (type, types.ModuleType, types.FunctionType, types.MethodType, Tensor,
                        Optimizer, functools.partial)) or not hasattr(obj, "__dict__"):
        return False
    return not type(obj).__module__.startswith(("builtins", "numpy"))


def _trainable_tensors(name: str, obj) -> list[tuple[str, Tensor]]:
    """Plain (non-Parameter) leaf tensors requiring grad in `obj`: itself, or the items of a
    list/tuple/dict of them (`params = [a, b, c, d]`), named after the variable."""
    def ok(t):
        return isinstance(t, Tensor) and not isinstance(t, Parameter) and t.requires_grad and \
            not t.is_traced and t.is_leaf
    if ok(obj):
        return [(name or "tensor", obj)]
    if isinstance(obj, (list, tuple)) and len(obj) <= 1024:
        return [(f"{name}{i}", t) for i, t in enumerate(obj) if ok(t)]
    if isinstance(obj, dict) and len(obj) <= 1024:
        return [(f"{name}.{k}", t) for k, t in obj.items() if ok(t)]
    return []


def _get(slot):
    kind, obj, key = slot
    if kind == "attr":
        return getattr(obj, key)
    p, k = key
    return obj.state.get(p, {}).get(k, MISSING)


def apply_effects(effects) -> None:
    """Replay a trace's Python-side effects after a successful run."""
    for (kind, obj, key), value in effects:
        if kind == "flag":   # a module's train/eval flag, as Module.train sets it
            object.__setattr__(obj, key, value)
            Module.epoch += 1
        elif kind == "attr":
            setattr(obj, key, value)
        elif value is MISSING:
            obj.state.get(key[0], {}).pop(key[1], None)
        else:
            obj.state[key[0]][key[1]] = value


_PLAIN = (int, float, bool, str, type(None))
_VERSION = operator.attrgetter("_version")
_TRAINING_VERSION = operator.attrgetter("training", "_version")  # guard_key: one pass


def _hashable(v):
    if isinstance(v, Tensor):
        return ("tensor", v._data.shape if v._data is not None else None)
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str)
    try:
        hash(v)
        return v
    except TypeError:
        return ("object", id(v))
