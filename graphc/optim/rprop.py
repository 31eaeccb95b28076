"""Rprop (resilient backpropagation) with PyTorch's formulas, defaults and state ("step", "prev",
"step_size"); torch's masked assignments (`sign[sign.gt(0)] = etaplus`) are where()s, so a step
compiles."""
from __future__ import annotations

from functools import partial

from ..autograd import no_grad
from ..functions import sign, tensor, where, zeros_like
from ..tensor import Tensor
from .optimizer import (Optimizer, _like, _step_tensor, check_arg, check_lr,
                        runtime_hyperparameters)


def _seq(x) -> bool:
    return isinstance(x, (tuple, list))


def _tensor(x, p):
    """x as a 0-d tensor of p's dtype (rounded once, as torch's masked fill with a number)."""
    return _like(x, p) if isinstance(x, Tensor) else tensor(float(x), dtype=p.dtype)


class Rprop(Optimizer):
    """Rprop (lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)), as torch.optim.Rprop; lr is the
    initial per-element step size."""

    def __init__(self, params, lr: float = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        check_lr("Rprop", lr)
        check_arg("Rprop", lambda: 0.0 < etas[0] < 1.0 < etas[1],
                  f"Invalid eta values: {', '.join(map(str, etas)) if _seq(etas) else etas!r} "
                  "(etas must be (etaminus, etaplus) with 0 < etaminus < 1 < etaplus)")
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    @no_grad()
    @runtime_hyperparameters("etas", "step_sizes")
    def step(self, closure=None):
        """One Rprop update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["prev"] = zeros_like(p)
                    state["step_size"] = zeros_like(p).add_(_like(group["lr"], p))
                prev, step_size = state["prev"], state["step_size"]
                state["step"].add_(1)
                s = sign(grad * prev)
                h = partial(self._scalar, group, p)
                em = _tensor(h("etaminus", lambda e: e[0], "etas"), p)
                ep = _tensor(h("etaplus", lambda e: e[1], "etas"), p)
                factor = where(s > 0, ep, where(s < 0, em, _tensor(1.0, p)))
                step_size.mul_(factor).clamp_(
                    _tensor(h("step_size_min", lambda s: s[0], "step_sizes"), p),
                    _tensor(h("step_size_max", lambda s: s[1], "step_sizes"), p))
                grad = where(factor == em, 0.0, grad)   # for dir < 0, dfdx = 0
                p.addcmul_(sign(grad), step_size, value=-1)
                prev.copy_(grad)
        return loss
