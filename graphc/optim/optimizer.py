"""optim.Optimizer: PyTorch's base class (param_groups, defaults, state, zero_grad, state_dict).

Inside graphc.compile, `step()` is traced like any other code: its in-place updates become graph
state updates, `group["lr"]` is a runtime input (schedulers work without recompiling), and tensors
kept in `self.state[p]` become persistent graph state held in NumPy arrays.
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


class Optimizer:
    """Base class: subclasses implement step() over self.param_groups, as in PyTorch."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults)
        self.state: dict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        params = list(params)
        if not params:
            raise GraphcError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def _check_hyperparameters(self, d: dict[str, Any]) -> None:
        """PyTorch's checks: lr, eps, weight_decay, momentum, alpha >= 0; betas in [0, 1)."""
        for k in ("lr", "eps", "weight_decay", "momentum", "alpha"):
            v = d.get(k)
            if v is not None and not (isinstance(v, numbers.Real) and v >= 0):
                raise GraphcError(f"{type(self).__name__}: invalid {k} {v!r} (must be >= 0)")
        betas = d.get("betas")
        if betas is not None and not (len(betas) == 2 and all(
                isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas)):
            raise GraphcError(f"{type(self).__name__}: invalid betas {betas!r} (each in [0, 1))")

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group: a dict with "params" and options (missing ones come from defaults)."""
        group = dict(group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if not isinstance(p, Tensor):
                raise GraphcError(f"{type(self).__name__} can only optimize Tensors, got "
                                  f"{type(p).__name__}")
            if not p.is_leaf or p.is_traced:
                raise GraphcError(f"{type(self).__name__}: can't optimize a non-leaf Tensor "
                                  "(one computed from others); pass a parameter or a tensor "
                                  "made with requires_grad=True")
            if not p.dtype.is_float:
                raise GraphcError(f"{type(self).__name__}: parameter of dtype {p.dtype} cannot be "
                                  "optimized (only floating-point parameters have gradients)")
            if id(p) in seen:
                raise GraphcError("some parameters appear in more than one parameter group")
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
