"""Loss modules: thin wrappers over graphc.nn.functional with PyTorch's arguments, defaults,
attributes (weights are buffers, in state_dict) and reprs."""
from __future__ import annotations

from ..errors import InputError, ShapeError
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if isinstance(size_average, str):   # graphc's older Loss(reduction)
            size_average, reduction = None, size_average
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)   # torch's mapping

    def _buffer(self, name: str, value) -> None:
        """torch's register_buffer(name, value): a tensor is saved in state_dict, None is not; a
        traced tensor (a loss built inside a compiled function) is used as it is."""
        if value is None or getattr(value, "is_traced", False):
            setattr(self, name, value)
        else:
            self.register_buffer(name, value)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        if isinstance(weight, str):          # graphc's older Loss(reduction)
            weight, reduction = None, weight
        super().__init__(size_average, reduce, reduction)
        self._buffer("weight", weight)


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
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

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
        if not isinstance(delta, (float, int)):
            raise InputError(f"HuberLoss: delta must be a float or int, got: {type(delta)}")
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


class PoissonNLLLoss(_Loss):
    """Negative log-likelihood of a Poisson target, as torch.nn.PoissonNLLLoss."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        """exp(x) - t x (log_input) or x - t log(x + eps), (+ Stirling with full), reduced."""
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with a predicted var, as torch.nn.GaussianNLLLoss."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(None, None, reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        """0.5 (log var + (input - target)^2 / var), var clamped to eps, reduced."""
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x1, x2) for target 1, max(0, cos - margin) for -1, as nn.CosineEmbeddingLoss."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        """The cosine embedding loss of each pair, reduced by self.reduction."""
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -y (x1 - x2) + margin), as torch.nn.MarginRankingLoss."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        """The ranking hinge of each pair, reduced by self.reduction."""
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """x for target 1, max(0, margin - x) for -1, as torch.nn.HingeEmbeddingLoss."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        """The hinge embedding loss of each element, reduced by self.reduction."""
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


def _positive_margin(cls: str, margin) -> None:
    if margin <= 0:
        raise ShapeError(f"{cls}: expected margin to be greater than 0, got {margin} instead")


class TripletMarginLoss(_Loss):
    """max(0, margin + d(a, p) - d(a, n)), d the p-norm distance, as torch.nn.TripletMarginLoss."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        _positive_margin("TripletMarginLoss", margin)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        """The triplet loss of each (anchor, positive, negative), reduced by self.reduction."""
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with any distance function (default: nn.PairwiseDistance()), as
    torch.nn.TripletMarginWithDistanceLoss."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):
        super().__init__(None, None, reduction)
        _positive_margin("TripletMarginWithDistanceLoss", margin)
        self.distance_function = distance_function if distance_function is not None \
            else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        """The triplet loss under self.distance_function, reduced by self.reduction."""
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """The multi-class hinge loss (p 1 or 2, class weights), as torch.nn.MultiMarginLoss."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                 reduce=None, reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ShapeError("MultiMarginLoss: only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ShapeError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.dim()}D instead")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        """sum over i != y of w[y] max(0, margin - x[y] + x[i])^p / C, reduced."""
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """The multi-label hinge loss over -1-ended target lists, as torch.nn.MultiLabelMarginLoss."""

    def forward(self, input, target):
        """sum over targets j and non-targets i of max(0, 1 - x[j] + x[i]) / C, reduced."""
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """One-vs-all logistic loss per class, averaged over classes, as
    torch.nn.MultiLabelSoftMarginLoss."""

    def forward(self, input, target):
        """The class-averaged logistic loss of each sample, reduced by self.reduction."""
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)
