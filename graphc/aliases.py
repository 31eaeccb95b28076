"""torch's NumPy-style keyword aliases: `axis=` for `dim=` and `keepdims=` for `keepdim=`.

PyTorch's argument parser accepts both spellings on every native function and Tensor method
that has a `dim` / `keepdim` parameter (`torch.sum(x, axis=1, keepdims=True)`,
`x.amax(axis=0)`, `torch.linalg.vector_norm(x, axis=1)`), but not on the ones written in Python
(`torch.norm`, `torch.split`, `Tensor.split`, `Tensor.norm`, `Tensor.unflatten`, everything in
torch.nn.functional): there an alias is Python's TypeError, as here.

`install(namespace)` wraps, once, every function of the graphc namespace, of graphc.linalg and
every Tensor method whose signature has `dim` or `keepdim` (and the in-place `name_` methods
taking `**kwargs` whose `name` is wrapped). A wrapper renames the keyword only when an alias is
given: the call without one costs a dict lookup. Passing both spellings (`dim=1, axis=1`, or a
positional dim and `axis=`) is an InputError (a TypeError, as torch's). One function object
shared by the namespace and Tensor (graphc.sum is Tensor.sum) gets one wrapper.
"""
from __future__ import annotations

import functools
import inspect

from .errors import InputError
from .tensor import Tensor

ALIASES = {"axis": "dim", "keepdims": "keepdim"}
# torch's versions are Python functions (no alias there): left unwrapped
PYTHON_IN_TORCH = frozenset({"norm", "split", "unique", "unique_consecutive"})
PYTHON_IN_TORCH_METHODS = frozenset({"norm", "split", "unflatten", "unique",
                                     "unique_consecutive"})

WRAPPED: dict[str, list[str]] = {"graphc": [], "graphc.linalg": [], "Tensor": []}
_done: dict[int, object] = {}   # id(original function) -> its wrapper


def _positions(fn) -> dict[str, int] | None:
    """{'dim': i, 'keepdim': j} for the positional slots of the aliased parameters (a huge index
    for keyword-only ones), or None when the signature has neither."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    pos = {}
    for i, p in enumerate(params):
        if p.name in ("dim", "keepdim"):
            pos[p.name] = i if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) else 1 << 30
    return pos or None


def _wrap(fn, name: str, pos: dict[str, int]):
    hit = _done.get(id(fn))
    if hit is not None:
        return hit
    if "keepdims" in inspect.signature(fn).parameters:   # takes keepdims itself: only axis
        aliases = {"axis": "dim"} if "dim" in pos else {}
    else:
        aliases = {a: d for a, d in ALIASES.items() if d in pos}
    if not aliases:
        return fn

    @functools.wraps(fn)
    def aliased(*args, **kwargs):
        if kwargs and ("axis" in kwargs or "keepdims" in kwargs):
            for alias, real in aliases.items():
                if alias in kwargs:
                    if real in kwargs or len(args) > pos[real]:
                        raise InputError(f"{name}() got {real}= twice: as {real} and as its alias "
                                         f"{alias}= (as in torch, pass one of them)")
                    kwargs[real] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    _done[id(fn)] = aliased
    return aliased


def _wrap_namespace(ns: dict, label: str, skip=frozenset()) -> None:
    for name, fn in list(ns.items()):
        if name.startswith("_") or name in skip or not inspect.isfunction(fn):
            continue
        pos = _positions(fn)
        if pos:
            w = _wrap(fn, name, pos)
            if w is not fn:
                ns[name] = w
                WRAPPED[label].append(name)


def install(namespace: dict) -> None:
    """Wrap the aliased functions of `namespace` (graphc's), graphc.linalg and Tensor's methods."""
    from . import linalg
    _wrap_namespace(namespace, "graphc", PYTHON_IN_TORCH)
    _wrap_namespace(vars(linalg), "graphc.linalg")
    for name in sorted(vars(Tensor)):
        fn = vars(Tensor)[name]
        if name.startswith("_") or name in PYTHON_IN_TORCH_METHODS or not inspect.isfunction(fn):
            continue
        pos = _positions(fn)
        if pos:
            w = _wrap(fn, name, pos)
        elif name.endswith("_") and name[:-1] in WRAPPED["Tensor"] and any(
                p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
            # x.scatter_(dim, ...) forwards *args, **kwargs to scatter: dim is its 2nd argument
            w = _wrap(fn, name, {k: v for k, v in _positions(vars(Tensor)[name[:-1]]).items()})
        else:
            continue
        if w is not fn:
            setattr(Tensor, name, w)
            WRAPPED["Tensor"].append(name)
