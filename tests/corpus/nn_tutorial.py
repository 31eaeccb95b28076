"""PyTorch's tutorial "What is torch.nn really?" (pytorch/tutorials,
beginner_source/nn_tutorial.py, BSD licence) on graphc's MNIST sample: the from-scratch model
(`log_softmax` by hand, `nll` as `-input[range(n), target].mean()`, `accuracy` with argmax,
in-place updates under no_grad), then its refactors (F.cross_entropy, nn.Parameter, nn.Linear,
optim, TensorDataset/DataLoader, `loss_batch` and `fit`). 640 training digits instead of 50 000,
no shuffling (a DataLoader's shuffle draws from each framework's own generator); the training
loops' bodies are steps (`train_batch(xb, yb)`) so they can be compiled.
"""
from __future__ import annotations

import math

import numpy as np

import graphc

_DATA = []


def _mnist():
    if not _DATA:
        x_train, y_train, x_valid, y_valid = graphc.datasets.mnist_sample()
        lo, hi = x_train.min(), x_train.max()   # the tutorial's pixels are in [0, 1]
        x_train, x_valid = [((x - lo) / (hi - lo)).astype(np.float32) for x in (x_train, x_valid)]
        _DATA.extend([x_train[:640], y_train[:640], x_valid[:256], y_valid[:256]])
    return _DATA


def from_scratch(torch, compile):
    x_train, y_train, x_valid, y_valid = map(torch.tensor, _mnist())
    n, c = x_train.shape
    shown = [x_train.shape[0], x_train.shape[1], y_train.min().item(), y_train.max().item()]

    weights = torch.randn(784, 10) / math.sqrt(784)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    bs = 64  # batch size
    xb = x_train[0:bs]  # a mini-batch from x
    preds = model(xb)  # predictions
    first = [preds[0], preds.shape[0], preds.shape[1]]

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    loss_func = nll
    yb = y_train[0:bs]
    first.append(loss_func(preds, yb).item())

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    first.append(accuracy(preds, yb).item())

    lr = 0.5  # learning rate
    epochs = 2  # how many epochs to train for

    @compile
    def train_batch(xb, yb):
        nonlocal weights, bias  # `weights -= ...` is in place, as at the script's top level
        pred = model(xb)
        loss = loss_func(pred, yb)

        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
        return loss

    losses = []
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            losses.append(train_batch(xb, yb).item())

    after = [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()]

    F = torch.nn.functional
    loss_func = F.cross_entropy

    def model(xb):
        return xb @ weights + bias

    after += [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item(),
              accuracy(model(x_valid), y_valid).item()]
    return {"shown": shown, "first": first, "losses": losses, "after": after,
            "params": [weights, bias]}


def refactored(torch, compile):
    """nn.Parameter module with `p -= p.grad * lr` / `model.zero_grad()`, then nn.Linear with
    optim.SGD, TensorDataset, DataLoader and the tutorial's `loss_batch`/`fit`."""
    x_train, y_train, x_valid, y_valid = map(torch.tensor, _mnist())
    n, c = x_train.shape
    F = torch.nn.functional
    nn = torch.nn
    optim = torch.optim
    loss_func = F.cross_entropy
    bs, lr, epochs = 64, 0.5, 1

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.Parameter(torch.randn(784, 10) / math.sqrt(784))
            self.bias = nn.Parameter(torch.zeros(10))

        def forward(self, xb):
            return xb @ self.weights + self.bias

    model = Mnist_Logistic()

    @compile
    def train_batch(xb, yb):
        pred = model(xb)
        loss = loss_func(pred, yb)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= p.grad * lr
            model.zero_grad()
        return loss

    def fit():
        out = []
        for epoch in range(epochs):
            for i in range((n - 1) // bs + 1):
                start_i = i * bs
                end_i = start_i + bs
                xb = x_train[start_i:end_i]
                yb = y_train[start_i:end_i]
                out.append(train_batch(xb, yb).item())
        return out

    losses = fit()
    params = [p.detach().clone() for p in model.parameters()]

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, xb):
            return self.lin(xb)

    def get_model():
        model = Mnist_Logistic()
        with torch.no_grad():   # the same start in both frameworks (Linear's init draws)
            model.lin.weight.copy_(torch.randn(10, 784) / math.sqrt(784))
            model.lin.bias.zero_()
        return model, optim.SGD(model.parameters(), lr=lr)

    TensorDataset = torch.utils.data.TensorDataset
    DataLoader = torch.utils.data.DataLoader
    train_ds = TensorDataset(x_train, y_train)
    train_dl = DataLoader(train_ds, batch_size=bs)
    valid_ds = TensorDataset(x_valid, y_valid)
    valid_dl = DataLoader(valid_ds, batch_size=bs * 2)

    model, opt = get_model()

    @compile
    def loss_step(xb, yb):
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    def loss_batch(model, loss_func, xb, yb, opt=None):
        if opt is not None:
            loss = loss_step(xb, yb)
        else:
            loss = loss_func(model(xb), yb)
        return loss.item(), len(xb)

    val = []

    def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
        for epoch in range(epochs):
            model.train()
            for xb, yb in train_dl:
                losses.append(loss_batch(model, loss_func, xb, yb, opt)[0])

            model.eval()
            with torch.no_grad():
                losses_, nums = zip(
                    *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
                )
            val_loss = np.sum(np.multiply(losses_, nums)) / np.sum(nums)
            val.append(val_loss)

    fit(2, model, loss_func, opt, train_dl, valid_dl)
    return {"losses": losses, "val": val, "params": params + list(model.parameters())}


PROGRAMS = [from_scratch, refactored]
