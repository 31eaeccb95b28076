"""Loss modules: thin wrappers over graphc.nn.functional with PyTorch's arguments."""
from __future__ import annotations

from . import functional as F
from .module import Module


def _legacy(reduction, size_average, reduce):
    """torch's deprecated size_average/reduce pair mapped onto reduction, as torch does."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if isinstance(size_average, str):   # graphc's older Loss(reduction)
            size_average, reduction = None, size_average
        self.reduction = _legacy(reduction, size_average, reduce)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        if isinstance(weight, str):          # graphc's older Loss(reduction)
            weight, reduction = None, weight
        super().__init__(size_average, reduce, reduction)
        self.weight = weight


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


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood loss over log-probabilities, as torch.nn.NLLLoss."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        """-weight[t] * input[n, t] for each sample n (t = target[n]), reduced by reduction."""
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits with class indices or probabilities, as torch.nn.CrossEntropyLoss."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        if isinstance(weight, str) and isinstance(size_average, (int, float)) \
                and not isinstance(size_average, bool):   # older (reduction, label_smoothing)
            label_smoothing, size_average = size_average, None
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        """Cross-entropy of log_softmax(input) and (smoothed) target, reduced by self.reduction."""
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities, as torch.nn.BCELoss (logs clamped to >= -100)."""

    def forward(self, input, target):
        """-w (y log x + (1 - y) log(1 - x)), reduced by self.reduction."""
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable loss, as torch.nn.BCEWithLogitsLoss."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        if isinstance(weight, str):   # graphc's older (reduction, pos_weight)
            weight, reduction = None, weight
            if size_average is not None and not isinstance(size_average, bool):
                pos_weight, size_average = size_average, None
        super().__init__(size_average, reduce, reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def forward(self, input, target):
        """Binary cross-entropy of sigmoid(input) and target, reduced by self.reduction."""
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss with threshold beta, as torch.nn.SmoothL1Loss."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        """Quadratic below beta, linear above, reduced by self.reduction."""
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber loss with threshold delta, as torch.nn.HuberLoss."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        """Quadratic below delta, delta-scaled linear above, reduced by self.reduction."""
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of log-probabilities input from target, as torch.nn.KLDivLoss."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        """target (log target - input) pointwise, reduced ('batchmean' divides by the batch)."""
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)), as torch.nn.SoftMarginLoss."""

    def forward(self, input, target):
        """Two-class logistic loss of input and +-1 target, reduced by self.reduction."""
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class CosineSimilarity(Module):
    """Cosine similarity along dim, as torch.nn.CosineSimilarity."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        """x1 . x2 / (max(|x1|, eps) max(|x2|, eps)) along self.dim."""
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance of x1 - x2 + eps over the last dim, as torch.nn.PairwiseDistance."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        """The p-norm of x1 - x2 + eps over the last dim."""
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
