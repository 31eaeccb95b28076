"""Two programs from pytorch/examples (BSD licence), as written there but smaller:
regression/main.py (a polynomial fitted by one Linear with F.smooth_l1_loss and `x.mm(W)`) and
mnist_forward_forward/main.py (Hinton's forward-forward algorithm: labels written into the
pixels with `x_[range(n), y] = x.max()`, layers trained one at a time on goodness). The step of
each training loop is a function so it can be compiled; `.cuda()` is dropped.
"""
from __future__ import annotations

from itertools import count

import numpy as np

from corpus.nn_tutorial import _mnist


def regression(torch, compile):
    F = torch.nn.functional
    POLY_DEGREE = 4
    W_target = torch.randn(POLY_DEGREE, 1) * 5
    b_target = torch.randn(1) * 5

    def make_features(x):
        """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
        x = x.unsqueeze(1)
        return torch.cat([x ** i for i in range(1, POLY_DEGREE+1)], 1)

    def f(x):
        """Approximated function."""
        return x.mm(W_target) + b_target.item()

    def poly_desc(W, b):
        """Creates a string description of a polynomial."""
        result = 'y = '
        for i, w in enumerate(W):
            result += '{:+.2f} x^{} '.format(w, i + 1)
        result += '{:+.2f}'.format(b[0])
        return result

    def get_batch(batch_size=32):
        """Builds a batch i.e. (x, f(x)) pair."""
        random = torch.randn(batch_size)
        x = make_features(random)
        y = f(x)
        return x, y

    # Define model
    fc = torch.nn.Linear(W_target.size(0), 1)
    with torch.no_grad():   # the same start in both frameworks (Linear's init draws)
        fc.weight.copy_(torch.randn(1, POLY_DEGREE) * 0.5)
        fc.bias.zero_()

    @compile
    def step(batch_x, batch_y):
        # Reset gradients
        fc.zero_grad()

        # Forward pass
        output = F.smooth_l1_loss(fc(batch_x), batch_y)

        # Backward pass
        output.backward()

        # Apply gradients
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
        return output

    losses = []
    for batch_idx in count(1):
        # Get data
        batch_x, batch_y = get_batch()
        output = step(batch_x, batch_y)
        loss = output.item()
        losses.append(loss)

        # Stop criterion
        if loss < 1e-3 or batch_idx == 40:
            break

    printed = ['Loss: {:.6f} after {} batches'.format(loss, batch_idx),
               '==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias),
               '==> Actual function:\t' + poly_desc(W_target.view(-1), b_target)]
    return {"losses": losses, "printed": printed[1:], "params": list(fc.parameters())}


def forward_forward(torch, compile):
    nn = torch.nn
    Adam = torch.optim.Adam
    x_all, y_all = [torch.tensor(a[:256]) for a in _mnist()[:2]]
    log = []

    def overlay_y_on_x(x, y):
        """Replace the first 10 pixels of data [x] with one-hot-encoded label [y]
        """
        x_ = x.clone()
        x_[:, :10] *= 0.0
        x_[range(x.shape[0]), y] = x.max()
        return x_

    class Net(torch.nn.Module):

        def __init__(self, dims):
            super().__init__()
            self.layers = []
            for d in range(len(dims) - 1):
                self.layers += [Layer(dims[d], dims[d + 1])]

        def predict(self, x):
            goodness_per_label = []
            for label in range(10):
                h = overlay_y_on_x(x, label)
                goodness = []
                for layer in self.layers:
                    h = layer(h)
                    goodness += [h.pow(2).mean(1)]
                goodness_per_label += [sum(goodness).unsqueeze(1)]
            goodness_per_label = torch.cat(goodness_per_label, 1)
            return goodness_per_label.argmax(1)

        def train(self, x_pos, x_neg):
            h_pos, h_neg = x_pos, x_neg
            for i, layer in enumerate(self.layers):
                log.append(f'training layer {i} ...')
                h_pos, h_neg = layer.train(h_pos, h_neg)

    class Layer(nn.Linear):
        def __init__(self, in_features, out_features,
                     bias=True, device=None, dtype=None):
            super().__init__(in_features, out_features, bias, device, dtype)
            with torch.no_grad():   # the same start in both frameworks (Linear's init draws)
                self.weight.copy_(torch.randn(out_features, in_features) / in_features ** 0.5)
                self.bias.zero_()
            self.relu = torch.nn.ReLU()
            self.opt = Adam(self.parameters(), lr=0.03)
            self.threshold = 2.0
            self.num_epochs = 12
            self.step = compile(self._step)

        def forward(self, x):
            x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
            return self.relu(
                torch.mm(x_direction, self.weight.T) +
                self.bias.unsqueeze(0))

        def _step(self, x_pos, x_neg):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            # The following loss pushes pos (neg) samples to
            # values larger (smaller) than the self.threshold.
            loss = torch.log(1 + torch.exp(torch.cat([
                -g_pos + self.threshold,
                g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            # this backward just compute the derivative and hence
            # is not considered backpropagation.
            loss.backward()
            self.opt.step()
            return loss

        def train(self, x_pos, x_neg):
            for i in range(self.num_epochs):
                log.append(self.step(x_pos, x_neg).item())
            return self.forward(x_pos).detach(), self.forward(x_neg).detach()

    net = Net([784, 64, 64])
    x, y = x_all, y_all
    x_pos = overlay_y_on_x(x, y)
    rnd = torch.randperm(x.size(0))
    x_neg = overlay_y_on_x(x, y[rnd])
    net.train(x_pos, x_neg)
    train_error = 1.0 - net.predict(x).eq(y).float().mean().item()
    predicted = net.predict(x)
    return {"log": log, "error": [train_error], "predicted": predicted,
            "params": [p for layer in net.layers for p in layer.parameters()],
            "overlay": [x_pos[:4, :12], x_neg[:4, :12], np.float64(x.max().item())]}


PROGRAMS = [regression, forward_forward]
