"""Adam, AdamW and RMSprop with PyTorch's formulas, defaults and bias correction.

Bias corrections are computed in float64 from the step count, as PyTorch does in Python doubles,
then rounded once to the parameter's dtype (float32 for float32 parameters).
"""
from __future__ import annotations

from ..autograd import no_grad
from ..functions import maximum, zeros_like
from ..tensor import Tensor
from .optimizer import (Optimizer, OptimizerValueError, _double, _like, _lerp_, _same,
                        _step_tensor, check_betas, check_lr, check_nonneg,
                        runtime_hyperparameters)


def _weight_decay(opt: Optimizer, group, p, lr) -> None:
    """Decoupled weight decay (AdamW, decoupled_weight_decay=True): p *= 1 - lr * weight_decay."""
    if group["weight_decay"] != 0 and group.get("decoupled_weight_decay"):
        wd = opt._hyper(group, "weight_decay")
        p.mul_(_like(1 - _double(lr) * wd, p))


def _adam_moments(opt: Optimizer, group, p, grad, exp_avg, exp_avg_sq) -> None:
    """Adam's moving averages: exp_avg.lerp_(grad, 1 - beta1), exp_avg_sq = beta2 * exp_avg_sq
    + (1 - beta2) * grad**2 (torch's order of operations)."""
    _lerp_(exp_avg, grad, opt._scalar(group, p, "one_minus_beta1", lambda b: 1 - b[0], "betas"))
    exp_avg_sq.mul_(opt._scalar(group, p, "beta2", lambda b: b[1], "betas")).addcmul_(
        grad, grad, value=opt._scalar(group, p, "one_minus_beta2", lambda b: 1 - b[1], "betas"))


class Adam(Optimizer):
    """Adam with optional AMSGrad, weight decay (decoupled_weight_decay=True: AdamW) and
    maximize, as torch.optim.Adam."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        name = type(self).__name__
        check_lr(name, lr)
        check_nonneg(name, eps=eps)
        check_betas(name, betas)
        check_nonneg(name, weight_decay=weight_decay)
        if not (all(isinstance(b, float) for b in betas) or
                all(isinstance(b, Tensor) for b in betas)):
            raise OptimizerValueError(f"{name}: betas must be either both floats or both "
                                      f"Tensors, got {betas!r}")
        betas = tuple(float(b) if isinstance(b, Tensor) else b for b in betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused, decoupled_weight_decay=decoupled_weight_decay))

    @no_grad()
    @runtime_hyperparameters("betas", "eps", "weight_decay")
    def step(self, closure=None):
        """One Adam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1, beta2 = self._hyper(group, "betas")
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                eps = self._scalar(group, p, "eps", _same, "eps")
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = zeros_like(p)
                step_t = state["step"]
                step_t.add_(1)
                _weight_decay(self, group, p, lr)
                if group["weight_decay"] != 0 and not group["decoupled_weight_decay"]:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                _adam_moments(self, group, p, grad, exp_avg, exp_avg_sq)
                step = step_t.double()
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = _like(lr / bias_correction1, p)      # lr / f64 -> f64
                bc2_sqrt = _like(bias_correction2.sqrt(), p)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"].copy_(maximum(state["max_exp_avg_sq"], exp_avg_sq))
                    denom = (state["max_exp_avg_sq"].sqrt() / bc2_sqrt).add_(eps)
                else:
                    denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2), as torch.optim.AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict) -> None:
        """As Adam's; decoupled_weight_decay stays True (torch's AdamW.__setstate__)."""
        super().load_state_dict(state_dict)
        for g in self.param_groups:
            g["decoupled_weight_decay"] = True


class RMSprop(Optimizer):
    """RMSprop with optional momentum, centering and weight decay, as torch.optim.RMSprop."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        check_lr("RMSprop", lr)
        check_nonneg("RMSprop", eps=eps, momentum=momentum, weight_decay=weight_decay,
                     alpha=alpha)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      capturable=capturable, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable))

    @no_grad()
    @runtime_hyperparameters("alpha", "eps", "weight_decay", "momentum")
    def step(self, closure=None):
        """One RMSprop update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                eps = self._scalar(group, p, "eps", _same, "eps")
                one_minus_alpha = self._scalar(group, p, "one_minus_alpha", lambda a: 1 - a,
                                               "alpha")
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["square_avg"] = zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = zeros_like(p)
                state["step"].add_(1)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                square_avg = state["square_avg"]
                square_avg.mul_(self._scalar(group, p, "alpha", _same, "alpha")).addcmul_(
                    grad, grad, value=one_minus_alpha)
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    _lerp_(grad_avg, grad, one_minus_alpha)
                    avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt().add_(eps)
                else:
                    avg = square_avg.sqrt().add_(eps)
                if group["momentum"] > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(self._scalar(group, p, "momentum", _same, "momentum")).addcdiv_(
                        grad, avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.addcdiv_(grad, avg, value=-lr)
        return loss
