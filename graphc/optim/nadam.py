"""NAdam and RAdam with PyTorch's formulas and defaults, written as adam.py (compiles: the step
count is a state tensor, so momentum schedules and RAdam's rectification are graph math)."""
from __future__ import annotations

from ..autograd import no_grad
from ..functions import maximum, tensor, where, zeros_like
from .adam import _adam_moments, _weight_decay
from .optimizer import (Optimizer, _double, _like, _same, _step_tensor, check_betas, check_lr,
                        check_nonneg, runtime_hyperparameters)


class NAdam(Optimizer):
    """Adam with Nesterov momentum and momentum decay, as torch.optim.NAdam."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        check_lr("NAdam", lr)
        check_nonneg("NAdam", eps=eps)
        check_betas("NAdam", betas)
        check_nonneg("NAdam", weight_decay=weight_decay, momentum_decay=momentum_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    @no_grad()
    @runtime_hyperparameters("betas", "eps", "weight_decay", "momentum_decay")
    def step(self, closure=None):
        """One NAdam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1, beta2 = self._hyper(group, "betas")
            lr, md = group["lr"], self._hyper(group, "momentum_decay")
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["mu_product"] = tensor(1.0, dtype=state["step"].dtype)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                step_t = state["step"]
                step_t.add_(1)
                step = step_t.double()
                bias_correction2 = 1 - beta2 ** step
                _weight_decay(self, group, p, lr)
                if group["weight_decay"] != 0 and not group["decoupled_weight_decay"]:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
                mu_product = state["mu_product"]
                mu_product.mul_(_like(mu, mu_product))
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                _adam_moments(self, group, p, grad, exp_avg, exp_avg_sq)
                denom = exp_avg_sq.div(_like(bias_correction2, p)).sqrt()
                mp = mu_product.double()
                mu_product_next = mp * mu_next
                denom.add_(self._scalar(group, p, "eps", _same, "eps"))
                p.addcdiv_(grad, denom, value=_like(-_double(lr) * (1.0 - mu) / (1.0 - mp), p))
                p.addcdiv_(exp_avg, denom,
                           value=_like((-_double(lr) * mu_next) / (1.0 - mu_product_next), p))
        return loss


class RAdam(Optimizer):
    """Rectified Adam, as torch.optim.RAdam (rectification by where(), so it compiles)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        check_lr("RAdam", lr)
        check_nonneg("RAdam", eps=eps)
        check_betas("RAdam", betas)
        check_nonneg("RAdam", weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      differentiable=differentiable))

    @no_grad()
    @runtime_hyperparameters("betas", "eps", "weight_decay")
    def step(self, closure=None):
        """One RAdam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1, beta2 = self._hyper(group, "betas")
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
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
                bias_corrected = exp_avg / _like(bias_correction1, p)
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                rect = maximum((rho_t - 4) * (rho_t - 2) * rho_inf
                               / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.0) ** 0.5
                adaptive = _like(bias_correction2 ** 0.5, p) / exp_avg_sq.sqrt().add_(
                    self._scalar(group, p, "eps", _same, "eps"))
                scaled = bias_corrected * _like(lr, p)
                update = where(rho_t > 5.0, scaled * adaptive * _like(rect, p), scaled)
                p.add_(update, alpha=-1.0)
        return loss
