"""SGD with momentum, dampening, Nesterov and weight decay: PyTorch's formulas and defaults."""
from __future__ import annotations

from ..autograd import no_grad
from .optimizer import (Optimizer, OptimizerValueError, _same, check_lr, check_nonneg,
                        runtime_hyperparameters)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, as
    torch.optim.SGD (lr=1e-3)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        check_lr("SGD", lr)
        check_nonneg("SGD", momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise OptimizerValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    @no_grad()
    @runtime_hyperparameters("momentum", "dampening", "weight_decay")
    def step(self, closure=None):
        """One SGD update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            lr = group["lr"]
            for p in self._params_with_grad(group):
                d_p = -p.grad if group["maximize"] else p.grad
                if group["weight_decay"] != 0:
                    d_p = d_p.add(p, alpha=self._scalar(group, p, "weight_decay", _same,
                                                        "weight_decay"))
                if group["momentum"] != 0:
                    momentum = self._scalar(group, p, "momentum", _same, "momentum")
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d_p.clone().detach()
                    else:
                        # dampening == 0 is guarded (a sign): no multiply by 1 - 0 then
                        buf.mul_(momentum).add_(d_p, alpha=1 if group["dampening"] == 0 else
                                                self._scalar(group, p, "one_minus_dampening",
                                                             lambda d: 1 - d, "dampening"))
                    d_p = d_p.add(buf, alpha=momentum) if group["nesterov"] else buf
                p.add_(d_p, alpha=-lr)
        return loss
