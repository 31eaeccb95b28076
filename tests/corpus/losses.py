"""Widely copied loss modules and attention, in the training loop of PyTorch's lr_scheduler
documentation (`optimizer.step(); scheduler.step()` per batch), on graphc's MNIST sample:

- `FocalLoss` from github.com/clcarwin/focal_loss_pytorch (MIT licence), as written:
  `torch.Tensor(alpha)`, `F.log_softmax(input)` without dim (torch's implicit-dim warning),
  `logpt.gather(1, target)`, `Variable(logpt.data.exp())`, `self.alpha.type() != input.data.type()`,
  `self.alpha.type_as(input.data)`, `self.alpha.gather(0, target.data.view(-1))`;
- `LabelSmoothingLoss` from the PyTorch issue thread on label smoothing (pytorch/pytorch#7455):
  `torch.zeros_like(pred).fill_(...)`, `true_dist.scatter_(1, target.data.unsqueeze(1), ...)`;
- perceiver-pytorch's cross-attention (github.com/lucidrains/perceiver-pytorch, MIT licence),
  `einsum('b i d, b j d -> b i j', q, k)` and `einsum('b i j, b j d -> b i d', attn, v)`, its
  `rearrange` calls (einops) written with view/transpose below, the mask branch not taken;
- OneCycleLR (momentum cycling on SGD), StepLR, clip_grad_norm_ / clip_grad_value_.
The loops' bodies are steps so they can be compiled; sizes are small.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from corpus.nn_tutorial import _mnist


def build(torch):
    nn = torch.nn
    F = torch.nn.functional
    Variable = torch.autograd.Variable
    einsum = torch.einsum

    class FocalLoss(nn.Module):
        def __init__(self, gamma=0, alpha=None, size_average=True):
            super(FocalLoss, self).__init__()
            self.gamma = gamma
            self.alpha = alpha
            if isinstance(alpha, (float, int)): self.alpha = torch.Tensor([alpha, 1-alpha])  # noqa: E701
            if isinstance(alpha, list): self.alpha = torch.Tensor(alpha)  # noqa: E701
            self.size_average = size_average

        def forward(self, input, target):
            if input.dim() > 2:
                input = input.view(input.size(0), input.size(1), -1)  # N,C,H,W => N,C,H*W
                input = input.transpose(1, 2)    # N,C,H*W => N,H*W,C
                input = input.contiguous().view(-1, input.size(2))   # N,H*W,C => N*H*W,C
            target = target.view(-1, 1)

            logpt = F.log_softmax(input)
            logpt = logpt.gather(1, target)
            logpt = logpt.view(-1)
            pt = Variable(logpt.data.exp())

            if self.alpha is not None:
                if self.alpha.type() != input.data.type():
                    self.alpha = self.alpha.type_as(input.data)
                at = self.alpha.gather(0, target.data.view(-1))
                logpt = logpt * Variable(at)

            loss = -1 * (1-pt)**self.gamma * logpt
            if self.size_average: return loss.mean()  # noqa: E701
            else: return loss.sum()  # noqa: E701

    class LabelSmoothingLoss(nn.Module):
        def __init__(self, classes, smoothing=0.0, dim=-1):
            super(LabelSmoothingLoss, self).__init__()
            self.confidence = 1.0 - smoothing
            self.smoothing = smoothing
            self.cls = classes
            self.dim = dim

        def forward(self, pred, target):
            pred = pred.log_softmax(dim=self.dim)
            with torch.no_grad():
                # true_dist = pred.data.clone()
                true_dist = torch.zeros_like(pred)
                true_dist.fill_(self.smoothing / (self.cls - 1))
                true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
            return torch.mean(torch.sum(-true_dist * pred, dim=self.dim))

    def exists(val):
        return val is not None

    def default(val, d):
        return val if exists(val) else d

    def rearrange(t, pattern, h=None):
        """einops.rearrange for the two patterns perceiver-pytorch's Attention uses."""
        if pattern == 'b n (h d) -> (b h) n d':
            b, n, hd = t.shape
            return t.view(b, n, h, hd // h).transpose(1, 2).reshape(b * h, n, hd // h)
        assert pattern == '(b h) n d -> b n (h d)'
        bh, n, d = t.shape
        return t.view(bh // h, h, n, d).transpose(1, 2).reshape(bh // h, n, h * d)

    class Attention(nn.Module):
        def __init__(self, query_dim, context_dim=None, heads=8, dim_head=64, dropout=0.):
            super().__init__()
            inner_dim = dim_head * heads
            context_dim = default(context_dim, query_dim)

            self.scale = dim_head ** -0.5
            self.heads = heads

            self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
            self.to_kv = nn.Linear(context_dim, inner_dim * 2, bias=False)

            self.dropout = nn.Dropout(dropout)
            self.to_out = nn.Linear(inner_dim, query_dim)

        def forward(self, x, context=None, mask=None):
            h = self.heads

            q = self.to_q(x)
            context = default(context, x)
            k, v = self.to_kv(context).chunk(2, dim=-1)

            q, k, v = map(lambda t: rearrange(t, 'b n (h d) -> (b h) n d', h=h), (q, k, v))

            sim = einsum('b i d, b j d -> b i j', q, k) * self.scale

            # attention, what we cannot get enough of
            attn = sim.softmax(dim=-1)
            attn = self.dropout(attn)

            out = einsum('b i j, b j d -> b i d', attn, v)
            out = rearrange(out, '(b h) n d -> b n (h d)', h=h)
            return self.to_out(out)

    return FocalLoss, LabelSmoothingLoss, Attention


def _same_weights(torch, model, rng):
    """Both frameworks' weights from one stream (Linear's init draws differ)."""
    with torch.no_grad():
        for p in model.parameters():
            scale = 1 / math.sqrt(p.shape[-1]) if p.dim() > 1 else 0.1
            p.copy_(torch.tensor((rng.standard_normal(tuple(p.shape)) * scale)
                                 .astype(np.float32)))


def focal_onecycle(torch, compile):
    """A perceiver-style classifier (latents cross-attending to 49 patches of 16 pixels) trained
    with FocalLoss(gamma=2, alpha per class), SGD with momentum under OneCycleLR (which cycles
    the momentum too), clip_grad_norm_."""
    nn = torch.nn
    FocalLoss, _, Attention = build(torch)
    x_train, y_train = [torch.tensor(a[:256]) for a in _mnist()[:2]]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(16, 32)
            self.latents = nn.Parameter(torch.randn(4, 32))
            self.attn = Attention(32, heads=2, dim_head=8)
            self.head = nn.Linear(32, 10)

        def forward(self, x):
            tokens = self.embed(x.view(x.shape[0], 49, 16))
            lat = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)
            lat = lat + self.attn(lat, context=tokens)
            return self.head(lat.mean(1))

    model = Net()
    _same_weights(torch, model, np.random.default_rng(5))
    criterion = FocalLoss(gamma=2, alpha=[0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    data_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train), batch_size=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, steps_per_epoch=len(data_loader), epochs=2)

    @compile
    def train_batch(data, target):
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        return loss, norm

    losses, norms, lrs, momenta = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # F.log_softmax(input)'s implicit-dim warning
        for epoch in range(2):
            for data, target in data_loader:
                loss, norm = train_batch(data, target)
                scheduler.step()
                losses.append(loss.item())
                norms.append(norm.item())
                lrs.append(scheduler.get_last_lr()[0])
                momenta.append(optimizer.param_groups[0]["momentum"])
        with torch.no_grad():
            out = model(x_train)
            acc = (torch.argmax(out, dim=1) == y_train).float().mean()
            eval_loss = criterion(out, y_train)
    return {"losses": losses, "norms": norms, "lrs": lrs, "momenta": momenta,
            "params": list(model.parameters()), "eval": [acc, eval_loss],
            "alpha_type": [criterion.alpha.type().split(".")[-1]]}


def label_smoothing_steplr(torch, compile):
    """An MLP trained with LabelSmoothingLoss(10, smoothing=0.1), Adam under StepLR, and
    clip_grad_value_; the accuracy from a scatter_-made one-hot."""
    nn = torch.nn
    _, LabelSmoothingLoss, _ = build(torch)
    x_train, y_train = [torch.tensor(a[:256]) for a in _mnist()[:2]]
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    _same_weights(torch, model, np.random.default_rng(6))
    criterion = LabelSmoothingLoss(10, smoothing=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    @compile
    def train_batch(data, target):
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.05)
        optimizer.step()
        return loss

    losses, lrs = [], []
    for epoch in range(4):
        for i in range(0, 256, 128):
            losses.append(train_batch(x_train[i:i + 128], y_train[i:i + 128]).item())
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    with torch.no_grad():
        out = model(x_train)
        y_onehot = torch.zeros(out.shape[0], 10)
        y_onehot.scatter_(1, y_train.unsqueeze(1), 1)
        correct = (y_onehot * (out == out.max(dim=1, keepdim=True)[0]).float()).sum()
    return {"losses": losses, "lrs": lrs, "params": list(model.parameters()),
            "correct": [correct]}


PROGRAMS = [focal_onecycle, label_smoothing_steplr]
