"""SparseAdam with PyTorch's formulas and defaults, on graphc's dense gradients.

graphc has no sparse tensors, so gradients are dense. SparseAdam keeps its sparse meaning on them:
torch updates only the rows (indices along dim 0) present in the sparse gradient, as an
`nn.Embedding(sparse=True)` lookup produces them; here a row whose gradient is entirely zero is
taken as absent (its moments are not decayed, the parameter row is not moved) and every other
row is updated with torch's sparse formula. That is torch's result for `grad.to_sparse(1)`
(and for a sparse embedding gradient, unless a looked-up row's gradient is exactly zero).
"""
from __future__ import annotations

from ..autograd import no_grad
from ..functions import amax, tensor, where, zeros_like
from ..tensor import Tensor
from .optimizer import (Optimizer, _double, _like, _same, _step_tensor, check_arg, check_betas,
                        check_lr, runtime_hyperparameters)


class SparseAdam(Optimizer):
    """Adam for sparse (embedding-like) gradients, as torch.optim.SparseAdam (lr=1e-3,
    betas=(0.9, 0.999), eps=1e-8), on dense gradients: rows with an all-zero gradient are
    left untouched (see the module docstring). No weight decay, as torch's."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False):
        check_lr("SparseAdam", lr, strict=True)
        check_arg("SparseAdam", lambda: 0.0 < eps, f"Invalid epsilon value: {eps} (eps must "
                  "be > 0)")
        check_betas("SparseAdam", betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    @no_grad()
    @runtime_hyperparameters("betas", "eps")
    def step(self, closure=None):
        """One SparseAdam update of the present rows of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._check_some_grad()
        for group in self.param_groups:
            beta1, beta2 = self._hyper(group, "betas")
            lr = group["lr"]
            for p in self._params_with_grad(group):
                grad = -p.grad if group.get("maximize", False) else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = _step_tensor(group)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                elif not isinstance(state["step"], Tensor):   # torch's int, from a checkpoint
                    state["step"] = tensor(float(state["step"]))
                state["step"].add_(1)
                rows = tuple(range(1, p.ndim))
                present = (amax(grad.abs(), dim=rows, keepdim=True) if rows else grad.abs()) != 0
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                old_avg, old_avg_sq = exp_avg.clone(), exp_avg_sq.clone()
                avg_update = (grad - old_avg) * self._scalar(group, p, "one_minus_beta1",
                                                              lambda b: 1 - b[0], "betas")
                exp_avg.copy_(where(present, old_avg + avg_update, old_avg))
                sq_update = (grad * grad - old_avg_sq) * self._scalar(
                    group, p, "one_minus_beta2", lambda b: 1 - b[1], "betas")
                exp_avg_sq.copy_(where(present, old_avg_sq + sq_update, old_avg_sq))
                numer = avg_update + old_avg
                denom = (sq_update + old_avg_sq).sqrt() + self._scalar(group, p, "eps", _same,
                                                                       "eps")
                step = state["step"].double()
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = _double(lr) * bias_correction2.sqrt() / bias_correction1
                p.copy_(where(present, p + _like(-step_size, p) * (numer / denom), p))
        return loss

    def state_dict(self):
        """As torch's: each parameter's "step" is a Python int."""
        sd = super().state_dict()
        for st in sd["state"].values():
            if "step" in st:
                st["step"] = int(round(float(st["step"])))
        return sd

    def load_state_dict(self, state_dict) -> None:
        """Restore a state_dict (torch's int steps become graphc's 0-d step tensors)."""
        super().load_state_dict(state_dict)
        for st in self.state.values():
            if "step" in st and not isinstance(st["step"], Tensor):
                st["step"] = tensor(float(st["step"]))

