"""Adadelta, Adagrad and Adamax with PyTorch's formulas, defaults and argument checks.

Written as adam.py: state tensors created lazily (Adagrad's in __init__, as torch), updates are
in-place tensor ops under no_grad, so a compiled step traces them into graph state updates.
"""
from __future__ import annotations

from ..autograd import no_grad
from ..functions import full_like, maximum, zeros_like
from .optimizer import (Optimizer, _double, _like, _lerp_, _same, _step_tensor, check_arg,
                        check_betas, check_lr, check_nonneg, runtime_hyperparameters)


class Adadelta(Optimizer):
    """Adadelta (lr=1.0, rho=0.9, eps=1e-6), as torch.optim.Adadelta."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False, differentiable: bool = False):
        check_lr("Adadelta", lr)
        check_arg("Adadelta", lambda: 0.0 <= rho <= 1.0,
                  f"Invalid rho value: {rho} (rho must be in [0, 1])")
        check_nonneg("Adadelta", eps=eps, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, capturable=capturable, foreach=foreach,
                                      differentiable=differentiable))

    @no_grad()
    @runtime_hyperparameters("rho", "eps", "weight_decay")
    def step(self, closure=None):
        """One Adadelta update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                rho = self._scalar(group, p, "rho", _same, "rho")
                one_minus_rho = self._scalar(group, p, "one_minus_rho", lambda r: 1 - r, "rho")
                eps = self._scalar(group, p, "eps", _same, "eps")
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["square_avg"] = zeros_like(p)
                    state["acc_delta"] = zeros_like(p)
                state["step"].add_(1)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg.mul_(rho).addcmul_(grad, grad, value=one_minus_rho)
                std = square_avg.add(eps).sqrt_()
                delta = acc_delta.add(eps).sqrt_()
                delta.div_(std).mul_(grad)
                acc_delta.mul_(rho).addcmul_(delta, delta, value=one_minus_rho)
                p.add_(delta, alpha=-lr)
        return loss


class Adagrad(Optimizer):
    """Adagrad (lr=1e-2, lr_decay, initial_accumulator_value, eps=1e-10), as torch.optim.Adagrad.

    As torch, the state ("step", "sum") is created in __init__, "sum" filled with the
    constructor's initial_accumulator_value (a group's own value is not used)."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        check_lr("Adagrad", lr)
        check_nonneg("Adagrad", lr_decay=lr_decay, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _step_tensor(group)
                state["sum"] = full_like(p, float(initial_accumulator_value))

    @no_grad()
    @runtime_hyperparameters("lr_decay", "eps", "weight_decay")
    def step(self, closure=None):
        """One Adagrad update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr, lr_decay = group["lr"], self._hyper(group, "lr_decay")
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                step_t = state["step"]
                step_t.add_(1)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                if group["lr_decay"] != 0:
                    clr = _like(_double(lr) / (1 + (step_t.double() - 1) * lr_decay), p)
                else:
                    clr = lr
                state["sum"].addcmul_(grad, grad, value=1)
                std = state["sum"].sqrt().add_(self._scalar(group, p, "eps", _same, "eps"))
                p.addcdiv_(grad, std, value=-clr)
        return loss


class Adamax(Optimizer):
    """Adamax (lr=2e-3, betas=(0.9, 0.999), eps=1e-8), as torch.optim.Adamax."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        check_lr("Adamax", lr)
        check_nonneg("Adamax", eps=eps)
        check_betas("Adamax", betas)
        check_nonneg("Adamax", weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))

    @no_grad()
    @runtime_hyperparameters("betas", "eps", "weight_decay")
    def step(self, closure=None):
        """One Adamax update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1 = self._hyper(group, "betas")[0]
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_inf"] = zeros_like(p)
                step_t = state["step"]
                step_t.add_(1)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
                _lerp_(exp_avg, grad, self._scalar(group, p, "one_minus_beta1",
                                                   lambda b: 1 - b[0], "betas"))
                beta2 = self._scalar(group, p, "beta2", lambda b: b[1], "betas")
                eps = self._scalar(group, p, "eps", _same, "eps")
                exp_inf.copy_(maximum(exp_inf.mul_(beta2), grad.abs().add_(eps)))
                clr = _like(_double(lr) / (1 - beta1 ** step_t.double()), p)
                p.addcdiv_(exp_avg, exp_inf, value=-clr)
        return loss
