"""Loss modules: thin wrappers over graphc.nn.functional with PyTorch's arguments."""
from __future__ import annotations

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error loss, as torch.nn.MSELoss."""

    def forward(self, input, target):
        """Squared error of input and target, reduced by self.reduction."""
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error loss, as torch.nn.L1Loss."""

    def forward(self, input, target):
        """Absolute error of input and target, reduced by self.reduction."""
        return F.l1_loss(input, target, self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood loss over log-probabilities, as torch.nn.NLLLoss."""

    def forward(self, input, target):
        """-input[n, target[n]] for each sample n, reduced by self.reduction."""
        return F.nll_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits with class indices or probabilities, as torch.nn.CrossEntropyLoss."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        """Cross-entropy of log_softmax(input) and (smoothed) target, reduced by self.reduction."""
        return F.cross_entropy(input, target, self.reduction, self.label_smoothing)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable loss, as torch.nn.BCEWithLogitsLoss."""

    def __init__(self, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def forward(self, input, target):
        """Binary cross-entropy of sigmoid(input) and target, reduced by self.reduction."""
        return F.binary_cross_entropy_with_logits(input, target, self.reduction, self.pos_weight)
