"""ASGD (averaged SGD) with PyTorch's formulas, defaults and state ("step", "eta", "mu", "ax").

torch's single-tensor algorithm, written so it compiles: `eta` and `mu` are 0-d state tensors
updated in the graph (torch reads them with .item()), and torch's `if mu != 1` branch of the
average is a where().
"""
from __future__ import annotations

from ..autograd import no_grad
from ..functions import maximum, tensor, where, zeros_like
from ..tensor import Tensor
from .optimizer import (Optimizer, _double, _like, _same, _step_tensor, check_lr, check_nonneg,
                        runtime_hyperparameters)


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6), as
    torch.optim.ASGD; `state[p]["ax"]` is the running average of the parameter."""

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        check_lr("ASGD", lr)
        check_nonneg("ASGD", weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    @no_grad()
    @runtime_hyperparameters("lambd", "alpha", "t0", "weight_decay")
    def step(self, closure=None):
        """One ASGD update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr = group["lr"]
            lambd, alpha, t0 = (self._hyper(group, k) for k in ("lambd", "alpha", "t0"))
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    dt = state["step"].dtype
                    state["eta"] = lr.to(dt).clone() if isinstance(lr, Tensor) else \
                        tensor(float(lr), dtype=dt)
                    state["mu"] = tensor(1.0, dtype=dt)
                    state["ax"] = zeros_like(p)
                step_t, eta, mu, ax = state["step"], state["eta"], state["mu"], state["ax"]
                step_t.add_(1)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                          "weight_decay"))
                eta_value = eta.double()
                p.mul_(_like(1 - lambd * eta_value, p))         # decay term
                p.add_(grad, alpha=_like(-eta_value, p))         # update parameter
                # averaging: torch copies the parameter while mu == 1 (t <= t0)
                ax.copy_(where(mu == 1, p, ax + (p - ax) * _like(mu, p)))
                step = step_t.double()
                lr64 = _double(lr)
                eta.copy_(lr64 / ((1 + lambd * lr64 * step) ** alpha))
                mu.copy_(1 / maximum(step - t0, 1.0))
        return loss
