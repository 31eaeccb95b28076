"""Recurrent layers with torch's semantics: nn.RNN, LSTM, GRU and RNNCell, LSTMCell, GRUCell.

The same parameters as torch (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`,
`weight_hr_l0` with proj_size, `_reverse` for the backward direction; gates in torch's order:
LSTM i, f, g, o; GRU r, z, n), initialisation (every weight U(-1/sqrt(hidden), 1/sqrt(hidden))),
shapes ((L, N, H) or batch_first (N, L, H), unbatched (L, H)), initial states, h_n/c_n layout
(layer by layer, forward direction first) and dropout between layers in training mode.

Each layer computes the input projection of every time step as one matmul, then runs the
recurrence as a graphc.scan over the steps (h W_hh^T plus the gate nonlinearities): eagerly the
Python loop, compiled one `scan` node whose body is one step, so the graph and the compile time
do not grow with the sequence length. PackedSequence
inputs are not supported (a clear error: pad the batch and pass the padded tensor).
"""
from __future__ import annotations

import math
import numbers
from functools import partial

import numpy as np

from .. import dtypes
from .. import functions as G
from .. import random
from .. import shape_ops as SO
from ..control_flow import scan
from ..errors import NotSupportedError
from ..tensor import Tensor, check
from .functional import linear
from .module import Module
from .parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _cell_step(mode: str, gi: Tensor, h: Tensor, c, w_hh, b_hh, w_hr=None):
    """One time step from the input's projection gi = x W_ih^T + b_ih: (h', c')."""
    gh = linear(h, w_hh, b_hh)
    if mode == "LSTM":
        H = c.shape[-1]
        gates = gi + gh
        i, f = G.sigmoid(gates[..., :H]), G.sigmoid(gates[..., H:2 * H])
        g, o = G.tanh(gates[..., 2 * H:3 * H]), G.sigmoid(gates[..., 3 * H:])
        c = f * c + i * g
        h = o * G.tanh(c)
        return (h if w_hr is None else linear(h, w_hr, None)), c
    if mode == "GRU":
        H = h.shape[-1]
        r = G.sigmoid(gi[..., :H] + gh[..., :H])
        z = G.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
        n = G.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (G.tanh(pre) if mode == "RNN_TANH" else G.relu(pre)), None


def _scan_step(mode, w_hh, b_hh, w_hr, carry, gi):
    """One step as graphc.scan's body: carry (h, c) (c None but for LSTM), result h."""
    h, c = _cell_step(mode, gi, *carry, w_hh, b_hh, w_hr)
    return (h, c), h


def _is_packed(x) -> bool:
    return type(x).__name__ == "PackedSequence"


class RNNBase(Module):
    """The stacked, optionally bidirectional recurrence shared by RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        check(isinstance(dropout, numbers.Number) and 0 <= dropout <= 1
              and not isinstance(dropout, bool),
              "dropout should be a number in range [0, 1] representing the probability of an "
              "element being zeroed")
        check(isinstance(hidden_size, int) and not isinstance(hidden_size, bool),
              f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        check(hidden_size > 0, "hidden_size must be greater than zero")
        check(num_layers > 0, "num_layers must be greater than zero")
        check(proj_size >= 0, "proj_size should be a positive integer or zero to disable "
                              "projections")
        check(proj_size < hidden_size, "proj_size has to be smaller than hidden_size")
        check(mode == "LSTM" or proj_size == 0, "proj_size argument is only supported for LSTM, "
                                                "not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            import warnings
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self._np = dtypes.as_dtype(dtype if dtype is not None else dtypes.float32).np
        gate = GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(dirs):
                in_size = input_size if layer == 0 else real_hidden * dirs
                suffix = "_reverse" if d == 1 else ""
                shapes = [(f"weight_ih_l{layer}{suffix}", (gate, in_size)),
                          (f"weight_hh_l{layer}{suffix}", (gate, real_hidden))]
                if bias:
                    shapes += [(f"bias_ih_l{layer}{suffix}", (gate,)),
                               (f"bias_hh_l{layer}{suffix}", (gate,))]
                if proj_size > 0:
                    shapes.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(np.zeros(shape, self._np)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for name in self._flat_weights_names:
            p = getattr(self, name)
            p.data = random.uniform(p.shape, -stdv, stdv, self._np)

    def flatten_parameters(self) -> None:
        """A no-op (torch packs cuDNN weights here)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """Per layer and direction, its parameters in torch's order."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def extra_repr(self) -> str:
        """torch's repr: sizes, then the options that differ from their defaults."""
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, layer: int, d: int):
        suffix = "_reverse" if d == 1 else ""
        get = lambda n: getattr(self, f"{n}_l{layer}{suffix}", None)   # noqa: E731
        return (get("weight_ih"), get("weight_hh"), get("bias_ih") if self.bias else None,
                get("bias_hh") if self.bias else None,
                get("weight_hr") if self.proj_size > 0 else None)

    def _initial(self, hx, batch: int, batched: bool, dtype):
        """(h0, c0) as (layers * dirs, N, H) tensors (zeros when not given)."""
        dirs = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = G.zeros((self.num_layers * dirs, batch, real_hidden), dtype=dtype)
            c0 = G.zeros((self.num_layers * dirs, batch, self.hidden_size), dtype=dtype) \
                if lstm else None
            return h0, c0
        if lstm:
            check(isinstance(hx, (tuple, list)) and len(hx) == 2,
                  "LSTM expects hx as a tuple (h_0, c_0)")
            h0, c0 = G._t(hx[0]), G._t(hx[1])
        else:
            check(not isinstance(hx, (tuple, list)), f"{type(self).__name__} expects hx as a "
                                                     "tensor, not a tuple")
            h0, c0 = G._t(hx), None
        want_dims = 3 if batched else 2
        for t, size, what in ((h0, real_hidden, "hidden"), (c0, self.hidden_size, "cell")):
            if t is None:
                continue
            check(t.ndim == want_dims,
                  f"For {'batched 3' if batched else 'unbatched 2'}-D input, hx"
                  f"{'' if not lstm else ' and cx'} should also be {want_dims}-D but got "
                  f"({t.ndim}-D) tensor")
            t3 = t if batched else G.unsqueeze(t, 1)
            want = (self.num_layers * dirs, batch, size)
            check(tuple(t3.shape) == want,
                  f"Expected {what} size {want}, got {list(t3.shape)}")
        if not batched:
            h0 = G.unsqueeze(h0, 1)
            c0 = None if c0 is None else G.unsqueeze(c0, 1)
        return h0, c0

    def forward(self, input, hx=None):
        """(output, h_n), or for LSTM (output, (h_n, c_n)), as torch's."""
        if _is_packed(input):
            raise NotSupportedError(
                f"{type(self).__name__}: PackedSequence inputs are not supported; pass the "
                "padded batch (nn.utils.rnn.pad_sequence) and mask the padded steps instead")
        x = G._t(input)
        check(x.ndim in (2, 3), f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                f"{x.ndim}D instead")
        batched = x.ndim == 3
        check(x.dtype.is_float, f"{type(self).__name__}: input must be floating point, got "
                                f"{x.dtype}")
        if not batched:
            x = G.unsqueeze(x, 1)
        elif self.batch_first:
            x = G.transpose(x, 0, 1)
        check(x.shape[-1] == self.input_size,
              f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
              f"{x.shape[-1]}")
        T, N = x.shape[0], x.shape[1]
        h0, c0 = self._initial(hx, N, batched, x.dtype)
        dirs = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                k = layer * dirs + d
                h, c = h0[k], (None if c0 is None else c0[k])
                gi = linear(x, w_ih, b_ih)             # every step's input projection at once
                if T:
                    (h, c), ys = scan(partial(_scan_step, self.mode, w_hh, b_hh, w_hr), (h, c),
                                      gi, reverse=d == 1)
                outs.append(ys if T else G.zeros((0, N, h.shape[-1]), dtype=x.dtype))
                hs.append(h)
                cs.append(c)
            x = outs[0] if dirs == 1 else SO.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                from .functional import dropout
                x = dropout(x, p=self.dropout, training=True)
        h_n = SO.stack(hs)
        c_n = SO.stack(cs) if self.mode == "LSTM" else None
        out = x
        if not batched:
            out, h_n = G.squeeze(out, 1), G.squeeze(h_n, 1)
            c_n = None if c_n is None else G.squeeze(c_n, 1)
        elif self.batch_first:
            out = G.transpose(out, 0, 1)
        return (out, (h_n, c_n)) if self.mode == "LSTM" else (out, h_n)


class RNN(RNNBase):
    """torch.nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)."""

    def __init__(self, *args, **kwargs):
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if len(args) > 3:
            nonlinearity, args = args[3], args[:3] + args[4:]
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        check(nonlinearity in modes, f"Unknown nonlinearity '{nonlinearity}'. Select from "
                                     "'tanh' or 'relu'.")
        super().__init__(modes[nonlinearity], *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """torch.nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """torch.nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)."""

    def __init__(self, *args, **kwargs):
        check("proj_size" not in kwargs, "proj_size argument is only supported for LSTM, not "
                                         "RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """One step of a recurrence: weight_ih, weight_hh, bias_ih, bias_hh as torch's cells."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self._np = dtypes.as_dtype(dtype if dtype is not None else dtypes.float32).np
        gate = num_chunks * hidden_size
        self.weight_ih = Parameter(np.zeros((gate, input_size), self._np))
        self.weight_hh = Parameter(np.zeros((gate, hidden_size), self._np))
        if bias:
            self.bias_ih = Parameter(np.zeros((gate,), self._np))
            self.bias_hh = Parameter(np.zeros((gate,), self._np))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every parameter, as torch."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            p.data = random.uniform(p.shape, -stdv, stdv, self._np)

    def extra_repr(self) -> str:
        """torch's repr of a cell."""
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _step(self, mode: str, input, hx, lstm: bool = False):
        x = G._t(input)
        check(x.ndim in (1, 2), f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                                f"{x.ndim}D instead")
        check(x.shape[-1] == self.input_size,
              f"input has inconsistent input_size: got {x.shape[-1]} expected {self.input_size}")
        batched = x.ndim == 2
        x = x if batched else G.unsqueeze(x, 0)
        N = x.shape[0]
        if hx is None:
            z = G.zeros((N, self.hidden_size), dtype=x.dtype)
            h, c = z, (z if lstm else None)
        elif lstm:
            h, c = G._t(hx[0]), G._t(hx[1])
            h, c = (h, c) if batched else (G.unsqueeze(h, 0), G.unsqueeze(c, 0))
        else:
            h, c = G._t(hx), None
            h = h if batched else G.unsqueeze(h, 0)
        gi = linear(x, self.weight_ih, self.bias_ih)
        h, c = _cell_step(mode, gi, h, c, self.weight_hh, self.bias_hh)
        if not batched:
            h, c = G.squeeze(h, 0), (None if c is None else G.squeeze(c, 0))
        return (h, c) if lstm else h


class RNNCell(RNNCellBase):
    """torch.nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        check(nonlinearity in ("tanh", "relu"), f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh."""
        return self._step("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input, hx)


class LSTMCell(RNNCellBase):
    """torch.nn.LSTMCell(input_size, hidden_size, bias=True): forward returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        """(h', c') from gates i, f, g, o."""
        return self._step("LSTM", input, hx, lstm=True)


class GRUCell(RNNCellBase):
    """torch.nn.GRUCell(input_size, hidden_size, bias=True)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        """h' from gates r, z, n."""
        return self._step("GRU", input, hx)
