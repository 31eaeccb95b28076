"""Adadelta, Adagrad and Adamax with PyTorch's formulas, defaults and argument checks.

Written as adam.py: state tensors created lazily (Adagrad's in __init__, as torch), updates are
in-place tensor ops under no_grad, so a compiled step traces them into graph state updates.
"""
from __future__ import annotations

import numbers

from ..autograd import no_grad
from ..errors import GraphcError
from ..functions import full_like, maximum, tensor, zeros_like
from .adam import _double, _like
from .optimizer import Optimizer


def _check(name: str, what: str, v, lo=0.0, hi=None) -> None:
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    if not ok:
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise GraphcError(f"{name}: invalid {what} {v!r} (must be {rng})")


class Adadelta(Optimizer):
    """Adadelta (lr=1.0, rho=0.9, eps=1e-6), as torch.optim.Adadelta."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False):
        _check("Adadelta", "rho", rho, 0.0, 1.0)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        """One Adadelta update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = tensor(0.0)
                    state["square_avg"] = zeros_like(p)
                    state["acc_delta"] = zeros_like(p)
                state["step"].add_(1)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
                std = square_avg.add(eps).sqrt_()
                delta = acc_delta.add(eps).sqrt_()
                delta.div_(std).mul_(grad)
                acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
                p.add_(delta, alpha=-lr)
        return loss


class Adagrad(Optimizer):
    """Adagrad (lr=1e-2, lr_decay, initial_accumulator_value, eps=1e-10), as torch.optim.Adagrad.

    As torch, the state ("step", "sum") is created in __init__."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 maximize: bool = False):
        _check("Adagrad", "lr_decay", lr_decay)
        _check("Adagrad", "initial_accumulator_value", initial_accumulator_value)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = tensor(0.0)
                state["sum"] = full_like(p, float(group["initial_accumulator_value"]))

    @no_grad()
    def step(self, closure=None):
        """One Adagrad update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr, eps, wd, lr_decay = group["lr"], group["eps"], group["weight_decay"], group["lr_decay"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                step_t = state["step"]
                step_t.add_(1)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                if lr_decay != 0:
                    clr = _like(_double(lr) / (1 + (step_t.double() - 1) * lr_decay), p)
                else:
                    clr = lr
                state["sum"].addcmul_(grad, grad, value=1)
                std = state["sum"].sqrt().add_(eps)
                p.addcdiv_(grad, std, value=-clr)
        return loss


class Adamax(Optimizer):
    """Adamax (lr=2e-3, betas=(0.9, 0.999), eps=1e-8), as torch.optim.Adamax."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        """One Adamax update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = tensor(0.0)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_inf"] = zeros_like(p)
                step_t = state["step"]
                step_t.add_(1)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_inf.copy_(maximum(exp_inf.mul_(beta2), grad.abs().add_(eps)))
                clr = _like(_double(lr) / (1 - beta1 ** step_t.double()), p)
                p.addcdiv_(exp_avg, exp_inf, value=-clr)
        return loss
