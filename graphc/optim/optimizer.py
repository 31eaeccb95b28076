"""optim.Optimizer: PyTorch's base class (param_groups, defaults, state, zero_grad, state_dict).

Inside graphc.compile, `step()` is traced like any other code: its in-place updates become graph
state updates, `group["lr"]` is a runtime input (schedulers work without recompiling), and tensors
kept in `self.state[p]` become persistent graph state held in NumPy arrays. graphc's own
optimizers also declare their float hyperparameters (momentum, betas, eps, weight_decay, ...)
runtime (`runtime_hyperparameters`): step() reads them with `_hyper` (float64 scalar math) and
`_scalar` (an operand of the elementwise update), which inside a trace are scalar inputs of the
graph recomputed from the group on every call, so momentum-cycling schedulers never retrace.

Every optimizer takes torch's `foreach=`, `fused=`, `capturable=`, `differentiable=` flags (and
rejects the same combinations); they select torch's kernels, not its formula, so graphc computes
the same numbers whatever they are: torch's single-tensor algorithm.
"""
from __future__ import annotations

import numbers
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from ..driver import tracing
from ..errors import GraphcError
from ..nn.parameter import Buffer
from ..tensor import Tensor


class OptimizerValueError(GraphcError, ValueError):
    """An invalid optimizer argument (a ValueError, as torch raises)."""


class OptimizerTypeError(GraphcError, TypeError):
    """Something that is not a tensor (or a set of them) given as parameters (a TypeError)."""


class OptimizerOptionError(GraphcError, RuntimeError):
    """Options torch refuses together, e.g. fused=True with foreach=True (a RuntimeError)."""


class OptimizerKeyError(GraphcError, KeyError):
    """A param group lacks a key a scheduler needs (`initial_lr` when resuming; a KeyError)."""


# ---- helpers shared by the optimizers ----------------------------------------------------------

def runtime_hyperparameters(*keys: str):
    """Decorator for an optimizer's step(): the group keys it reads through `_hyper`/`_scalar`
    only (branching on their sign at most: the guards keep it), which graphc.compile then feeds
    as runtime scalar inputs. A subclass overriding step() does not inherit the mark."""
    def mark(step):
        step.runtime_hyperparameters = frozenset(keys)
        return step
    return mark


def _double(x):
    """A hyperparameter (a Python number, or a traced scalar) in float64, as PyTorch's Python
    doubles."""
    return x.double() if isinstance(x, Tensor) else x


def _like(x, p):
    """`x` rounded once to p's dtype, as torch does with a Python scalar operand (Python
    numbers are left as they are: weak typing rounds them the same way)."""
    return x.to(p.dtype) if isinstance(x, Tensor) else x


def _lerp_(t: Tensor, end: Tensor, weight) -> Tensor:
    """t.lerp_(end, weight): torch's formula for a number (from the nearer end when weight >=
    0.5); for a runtime scalar input t + (end - t) * weight (which end is nearer would be graph
    work beside the update: the two differ by rounding only, for weights >= 0.5)."""
    if isinstance(weight, Tensor):
        return t.add_((end - t) * weight)
    from ..math_ops import lerp
    return t.copy_(lerp(t, end, weight))


def _step_tensor(group: dict[str, Any]) -> Tensor:
    """A fresh `state["step"]`: 0-d, of the default float dtype (float32 with fused=True), as
    torch's _get_scalar_dtype."""
    from ..dtypes import float32
    from ..functions import tensor
    return tensor(0.0, dtype=float32 if group.get("fused") else None)


def _real(v) -> bool:
    return isinstance(v, numbers.Real) or (isinstance(v, Tensor) and v.numel() == 1)


def check_arg(cls: str, ok, message: str) -> None:
    """Raise OptimizerValueError(`cls: message`) unless `ok` (a bool, or a callable run on
    numbers: a comparison of a non-number raises the same error)."""
    try:
        good = ok() if callable(ok) else ok
    except (TypeError, IndexError, ValueError):
        good = False
    if not good:
        raise OptimizerValueError(f"{cls}: {message}")


def check_lr(cls: str, lr, strict: bool = False) -> None:
    """torch's lr check (a number, or a 1-element Tensor), >= 0 (> 0 with strict)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise OptimizerValueError(f"{cls}: Tensor lr must be 1-element")
    check_arg(cls, lambda: _real(lr) and (float(lr) > 0 if strict else float(lr) >= 0),
              f"Invalid learning rate: {lr} (lr must be {'>' if strict else '>='} 0)")


def check_nonneg(cls: str, **values) -> None:
    """torch's `0.0 <= value` checks, with torch's words ("Invalid epsilon value: ...")."""
    words = {"eps": "epsilon"}
    for k, v in values.items():
        check_arg(cls, lambda v=v: _real(v) and float(v) >= 0,
                  f"Invalid {words.get(k, k)} value: {v} ({k} must be >= 0)")


def check_betas(cls: str, betas) -> None:
    """torch's `0.0 <= betas[i] < 1.0` checks."""
    check_arg(cls, lambda: len(betas) == 2, f"invalid betas {betas!r} (two numbers)")
    for i, b in enumerate(betas):
        check_arg(cls, lambda b=b: _real(b) and 0.0 <= float(b) < 1.0,
                  f"Invalid beta parameter at index {i}: {b} (betas[{i}] must be in [0, 1))")


def _same(x):
    return x


def _runtime(group: dict[str, Any]):
    """The trace's RuntimeHyperparameters when `group` belongs to an optimizer it feeds."""
    tr = tracing.current()
    if tr is None:
        return None
    h = tr.__dict__.get("hyperparameters")
    return h if h is not None and id(group) in h.groups else None


class Optimizer:
    """Base class: subclasses implement step() over self.param_groups, as in PyTorch."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise OptimizerTypeError("params argument given to the optimizer should be an "
                                     "iterable of Tensors or dicts, but got a Tensor")
        params = list(params)
        if not params:
            raise OptimizerValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)
        self._check_fused()

    def _check_fused(self) -> None:
        """torch's refusals for fused=True: with differentiable=True, or with foreach=True."""
        if self.defaults.get("fused"):
            if self.defaults.get("differentiable"):
                raise OptimizerOptionError("`fused` does not support `differentiable`")
            if self.defaults.get("foreach"):
                raise OptimizerOptionError("`fused` and `foreach` cannot be `True` together.")

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group: a dict with "params" and options (missing ones come from defaults).
        Parameters may be given as (name, tensor) pairs (`named_parameters()`), as in torch:
        the group then has "param_names"."""
        if not isinstance(group, dict):
            raise OptimizerTypeError(f"param_group must be a dict, but got "
                                     f"{type(group).__name__}")
        group = dict(group)
        ps = group["params"]
        if isinstance(ps, set):
            raise OptimizerTypeError("optimizer parameters need to be organized in ordered "
                                     "collections, but the ordering of tensors in sets will "
                                     "change between runs. Please use a list instead.")
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        names = [p[0] for p in ps if isinstance(p, tuple)]
        if names:
            if len(names) != len(ps):
                raise OptimizerValueError("all optimizer params should be with/without names. "
                                          "Some param names are missing")
            group["param_names"] = names
            ps = [p[1] for p in ps]
        if any(("param_names" in g) != bool(names) for g in self.param_groups):
            raise OptimizerValueError("all optimizer param groups should be with/without names")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if not isinstance(p, Tensor):
                raise OptimizerTypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                         f"{type(p).__name__}")
            if not p.is_leaf or p.is_traced:
                raise OptimizerValueError(
                    f"{type(self).__name__}: can't optimize a non-leaf Tensor (one computed from "
                    "others); pass a parameter or a tensor made with requires_grad=True")
            if not p.dtype.is_float:
                raise OptimizerValueError(
                    f"{type(self).__name__}: parameter of dtype {p.dtype} cannot be optimized "
                    "(only floating-point parameters have gradients)")
            if id(p) in seen:
                raise OptimizerValueError("some parameters appear in more than one parameter "
                                          "group")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients: to None (default, as PyTorch) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        """Update the parameters from their gradients; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    @staticmethod
    def _hyper(group: dict[str, Any], key: str):
        """group[key] for float64 scalar math (bias corrections, as torch's Python doubles): the
        Python value, or inside graphc.compile an f64 scalar input (a tuple of them for betas)
        when step() declares the key in runtime_hyperparameters."""
        v = group[key]
        h = _runtime(group)
        if h is None:
            return v
        if isinstance(v, (tuple, list)):
            items = tuple(h.value(group, (key,), lambda x, j=j: x[j], f"{key}_{j}", np.float64)
                          for j in range(len(v)))
            return v if any(t is None for t in items) else items
        t = h.value(group, (key,), _same, key, np.float64)
        return v if t is None else t

    @staticmethod
    def _scalar(group: dict[str, Any], p: Tensor, name: str, fn, *keys: str):
        """fn(*group values of keys) as an operand of p's elementwise update: the Python number
        eagerly (weakly typed: rounded to p's dtype, as torch rounds a scalar); inside
        graphc.compile a scalar input of p's dtype computed on every call (`name` names it;
        fn must depend on its arguments only)."""
        h = _runtime(group)
        if h is not None:
            t = h.value(group, keys, fn, name, p.dtype.np)
            if t is not None:
                return t
        return fn(*[group[k] for k in keys])

    @staticmethod
    def _closure_loss(closure):
        """The loss of `closure()` run with gradients enabled (inside step's no_grad), or None."""
        if closure is None:
            return None
        from ..grad_mode import enable_grad
        with enable_grad():
            return closure()

    def _params_with_grad(self, group) -> list[Tensor]:
        """The group's parameters that have a gradient (PyTorch skips the others)."""
        return [p for p in group["params"] if p.grad is not None]

    def _check_some_grad(self) -> None:
        if tracing.current() is None:
            return
        if not any(p.grad is not None for g in self.param_groups for p in g["params"]):
            raise GraphcError(f"{type(self).__name__}.step() at {tracing.user_where()}: no parameter "
                              "has a gradient; call loss.backward() before optimizer.step()")

    # ---- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: array or number}}, "param_groups": [...]} as in PyTorch."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state = {}
        for p, st in self.state.items():
            state[index[id(p)]] = {k: (np.array(v.numpy()) if isinstance(v, Tensor) else v)
                                   for k, v in st.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state and hyperparameters saved by state_dict() (also PyTorch's, via NumPy)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise GraphcError("load_state_dict: the saved parameter groups do not match this "
                              "optimizer's (different number of groups or parameters)")
        params = [p for g in self.param_groups for p in g["params"]]
        ids = [i for g in groups for i in g["params"]]
        by_saved = dict(zip(ids, params))
        new_state = defaultdict(dict)
        for i, st in state_dict["state"].items():
            p = by_saved[int(i)]
            for k, v in st.items():
                if hasattr(v, "detach"):
                    v = v.detach().cpu().numpy()
                if isinstance(v, np.ndarray):
                    v = Buffer(np.array(v, dtype=p.dtype.np if v.ndim else np.float32))
                new_state[p][k] = v
        self.state = new_state
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
