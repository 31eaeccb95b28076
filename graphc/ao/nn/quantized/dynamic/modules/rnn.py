"""Dynamically quantized recurrent layers, as torch.ao.nn.quantized.dynamic's LSTM, GRU and cells.

    qlstm = graphc.ao.nn.quantized.dynamic.LSTM.from_float(lstm)   # or quantize_dynamic(model)
    out, (h_n, c_n) = qlstm(x)                                     # x f32[T, N, input_size]

What torch computes (aten/src/ATen/native/RNN.cpp, `QuantizedCellParamsDynamic` on the CPU, and
torch.ao.nn.quantized.dynamic.modules.rnn), and so what these modules compute:

- Weights: every `weight_ih` and `weight_hh` of every layer and direction is quantized once, on
  its own, to symmetric int8 (per tensor, or per output row with per-channel), exactly as a
  dynamic Linear's (`quantize_weight` in graphc/ir/ops/quant.py). Biases stay float32: `b_ih` is
  the bias of the input projection, `b_hh` the bias of the hidden projection.
- Input projection: for each layer and direction ONE dynamic int8 linear over the whole sequence,
  `gi = qlinear(x[T, N, K], W_ih, b_ih)`, so its activation scale comes from the min and max of
  all T * N rows (torch's `FullLayer` pre-computes it on the CPU).
- Every step: `gh = qlinear(h[N, H], W_hh, b_hh)`, its own activation scale from that step's h
  (7-bit range, reduce_range=True, as torch's version-2 cell params), then the gate math in
  float32 in torch's order:
      LSTM  gates = gh + gi;  i, f, o = sigmoid, g = tanh of the four chunks
            c' = f * c + i * g;  h' = o * tanh(c')
      GRU   r = sigmoid(gh_r + gi_r);  z = sigmoid(gh_z + gi_z);  n = tanh(gi_n + gh_n * r)
            h' = (h - n) * z + n
      RNN   h' = tanh (or relu) of gh + gi                       (the RNNCell only)
- Cells (LSTMCell, GRUCell, RNNCell) quantize their input per call: `gi = qlinear(x[N, K], ...)`.

Numbers: the int8 linears are bit-exact with torch's fbgemm (see qlinear). sigmoid and tanh are
graphc's (NumPy's on the interpreter, vectorised polynomials in native code), while torch uses
SLEEF's vectorised expf/tanhf, and its scalar loop where a gate chunk's row is shorter than two
vectors (hidden_size 16 and 24 round differently from 64 and 128 in torch itself): they differ
by an ulp or so on some elements, so outputs usually agree within 2e-7. When such an ulp moves a
later step's h * (1 / s_x) + z across a rounding boundary, one int8 activation differs by one,
that step's hidden projection by one quantization step (about s_x * s_w * |w_q|, up to ~1e-3),
and the recurrence carries it: measured on LSTM/GRU(64, 128) over 50 steps at batch 32, 2 of 8
seeds had such a flip (max |graphc - torch| 4e-4 and 1.5e-3), the others stayed below 2.1e-7.
Fed torch's own sigmoid and tanh (on the same strided chunks), these formulas reproduce torch to
0 ulp in every case tried (tests/test_qrnn.py checks both statements).

Differences from torch, all raised or documented: PackedSequence input, float16 weights and
proj_size raise NotSupportedError (torch has no quantized LSTM with projections); bias=False is
accepted (torch's from_float refuses it) and computes the same as zero biases. Unbatched (2-D)
input raises, as torch's quantized LSTM/GRU does. The modules are inference-only.
"""
from __future__ import annotations

import numbers

import numpy as np

from ...... import dtypes
from ...... import functions as G
from ...... import shape_ops as SO
from ......errors import GraphcError, NotSupportedError
from ......nn import rnn as fp32_rnn
from ......nn.module import Module, ModuleList
from ......tensor import Tensor, check
from .linear import QuantizedLinear, qconfig_per_channel

__all__ = [
    "GRU",
    "LSTM",
    "CellParams",
    "GRUCell",
    "LSTMCell",
    "PackedParameter",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _qlinear(in_features: int, out_features: int, bias: bool, per_channel: bool):
    return QuantizedLinear(in_features, out_features, bias, per_channel)


def _check_dtype(dtype, who: str) -> None:
    if dtype is not dtypes.qint8:
        raise NotSupportedError(f"{who}: dtype={dtype!r} is not supported; graphc's dynamic "
                                "quantized recurrent layers have int8 weights only (qint8)")


def _float_weights(mod: Module, names: list[str], who: str) -> dict[str, np.ndarray]:
    out = {}
    for n in names:
        p = getattr(mod, n)
        w = np.asarray(p._data)
        if w.dtype != np.float32:
            raise GraphcError(f"{who}.from_float: {n} is {w.dtype}; only float32 layers are "
                              "quantized (convert the model with .float() first)")
        out[n] = w
    return out


def _quantized_from(w: np.ndarray, b, per_channel: bool) -> QuantizedLinear:
    """A QuantizedLinear holding int8 `w` (out, in) and fp32 bias `b` (None: no bias)."""
    return QuantizedLinear.from_weight(w, b, per_channel)


def _repr(mod: Module, name: str) -> str:
    return f"{name}({mod.extra_repr()})"


def _qweight(q: QuantizedLinear):
    """The int8 weight as a quantized tensor (qint8, zero point 0), as torch's get_weight."""
    from ...... import quantized_tensor as QT
    w_q = G.as_tensor(q.weight_q.numpy().copy())
    s = q.w_scale.numpy()
    if s.ndim == 0:
        return QT._make_per_tensor_quantized_tensor(w_q, float(s), 0)
    return QT._make_per_channel_quantized_tensor(w_q, s.astype(np.float64),
                                                 np.zeros(s.shape, np.int64), 0)


def _weight_bias(pairs) -> dict:
    """{"weight": {name: quantized weight}, "bias": {name: fp32 bias or None}} for (sfx, ih, hh)."""
    out = {"weight": {}, "bias": {}}
    for sfx, ih, hh in pairs:
        for which, q in (("ih", ih), ("hh", hh)):
            out["weight"][f"weight_{which}{sfx}"] = _qweight(q)
            out["bias"][f"bias_{which}{sfx}"] = (G.as_tensor(q.bias.numpy().copy())
                                                if q.has_bias else None)
    return out


# ---- LSTM and GRU -------------------------------------------------------------------------------


class CellParams(Module):
    """One layer and direction's weights: `ih` (W_ih, b_ih) and `hh` (W_hh, b_hh), int8."""

    def __init__(self, ih: QuantizedLinear, hh: QuantizedLinear):
        super().__init__()
        self.ih, self.hh = ih, hh


class PackedParameter(Module):
    """Holds one CellParams as `param`, so state_dict keys start `_all_weight_values.K.param`."""

    def __init__(self, param: CellParams):
        super().__init__()
        self.param = param


class RNNBase(Module):
    """The stacked, optionally bidirectional int8 recurrence shared by the dynamic LSTM and GRU.

    state_dict: per layer and direction k (layer by layer, forward direction first, as torch's
    `_all_weight_values`): `_all_weight_values.k.param.ih.*` and `.hh.*`, each a QuantizedLinear's
    buffers (weight_q, w_scale, w_colsum, bias, and the fp32 weight used only for NaN/inf input).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=dtypes.qint8, per_channel: bool = False):
        super().__init__()
        check(mode in ("LSTM", "GRU"), f"Unrecognized RNN mode: {mode}")
        check(isinstance(dropout, numbers.Number) and 0 <= dropout <= 1
              and not isinstance(dropout, bool),
              "dropout should be a number in range [0, 1] representing the probability of an "
              "element being zeroed")
        _check_dtype(dtype, f"quantized dynamic {mode}")
        if dropout > 0 and num_layers == 1:
            import warnings
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.dtype, self.per_channel, self.version = dtype, bool(per_channel), 2
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        values = []
        for layer in range(num_layers):
            for _ in range(dirs):
                k_in = input_size if layer == 0 else hidden_size * dirs
                values.append(PackedParameter(CellParams(
                    _qlinear(k_in, gate, bias, per_channel),
                    _qlinear(hidden_size, gate, bias, per_channel))))
        self._all_weight_values = ModuleList(values)
        self.training = False

    _FLOAT_TYPE = None   # set by LSTM / GRU

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False, per_channel=None):
        """Quantize an fp32 graphc nn.LSTM / nn.GRU (its arrays are copied, never shared).

        per_channel: None reads `mod.qconfig` when it has one (a per-channel weight observer
        gives per-row scales), else per tensor; True/False force it.
        """
        want = cls._FLOAT_TYPE
        who = f"quantized dynamic {cls.__name__}"
        if type(mod) is not want:
            raise GraphcError(f"{who}.from_float takes an nn.{want.__name__}, got "
                              f"{type(mod).__name__}")
        if getattr(mod, "proj_size", 0):
            raise NotSupportedError(
                f"{who}: proj_size={mod.proj_size} is not supported (torch's dynamic quantized "
                "LSTM has no projections); keep this LSTM in fp32 (keep_fp32 in quantize_dynamic)")
        if per_channel is None:
            per_channel = qconfig_per_channel(getattr(mod, "qconfig", None))
        q = cls(mod.input_size, mod.hidden_size, mod.num_layers, mod.bias, mod.batch_first,
                mod.dropout, mod.bidirectional, dtypes.qint8, per_channel=per_channel)
        dirs = 2 if mod.bidirectional else 1
        for layer in range(mod.num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}{'_reverse' if d else ''}"
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                if mod.bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                w = _float_weights(mod, names, who)
                b_ih, b_hh = (w.get(f"bias_ih{sfx}"), w.get(f"bias_hh{sfx}"))
                q._all_weight_values[layer * dirs + d].param = CellParams(
                    _quantized_from(w[f"weight_ih{sfx}"], b_ih, per_channel),
                    _quantized_from(w[f"weight_hh{sfx}"], b_hh, per_channel))
        q.training = False
        return q

    proj_size = 0   # torch has no quantized LSTM with projections (from_float refuses one)
    extra_repr = fp32_rnn.RNNBase.extra_repr   # torch's repr: the float layer's

    def __repr__(self) -> str:
        return _repr(self, f"DynamicQuantized{self.mode}")   # torch hides the packed weights

    def _weight_bias(self) -> dict:
        dirs = 2 if self.bidirectional else 1
        return _weight_bias((f"_l{layer}{'_reverse' if d else ''}",
                             self._cell_params(layer, d).ih, self._cell_params(layer, d).hh)
                            for layer in range(self.num_layers) for d in range(dirs))

    def get_weight(self) -> dict:
        """{"weight_ih_l0": quantized tensor, "weight_hh_l0": ..., ...}, as torch's."""
        return self._weight_bias()["weight"]

    def get_bias(self) -> dict:
        """{"bias_ih_l0": fp32 tensor (None without bias), ...}, as torch's."""
        return self._weight_bias()["bias"]

    def _cell_params(self, layer: int, d: int) -> CellParams:
        return self._all_weight_values[layer * (2 if self.bidirectional else 1) + d].param

    def _hidden(self, hx, N: int, dtype):
        """(h0, c0) as (layers * dirs, N, H) tensors, checked as torch's quantized LSTM/GRU."""
        want = ((2 if self.bidirectional else 1) * self.num_layers, N, self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            z = G.zeros(want, dtype=dtype)
            return z, (z if lstm else None)
        if lstm:
            check(isinstance(hx, (tuple, list)) and len(hx) == 2,
                  "the dynamic quantized LSTM expects hx as a tuple (h_0, c_0)")
            pairs = [(G._t(hx[0]), "Expected hidden[0] size {}, got {}"),
                     (G._t(hx[1]), "Expected hidden[1] size {}, got {}")]
        else:
            check(not isinstance(hx, (tuple, list)),
                  "the dynamic quantized GRU expects hx as a tensor, not a tuple")
            pairs = [(G._t(hx), "Expected hidden size {}, got {}")]
        for t, msg in pairs:
            check(tuple(t.shape) == want, msg.format(want, list(t.shape)))
            check(t.dtype == dtypes.float32, f"hidden state must be float32, got {t.dtype}")
        return pairs[0][0], (pairs[1][0] if lstm else None)

    def forward(self, input, hx=None):
        """(output, h_n), or for the LSTM (output, (h_n, c_n)), as torch's."""
        name = f"DynamicQuantized{self.mode}"
        if fp32_rnn._is_packed(input):
            raise NotSupportedError(f"{name}: PackedSequence inputs are not supported; pass the "
                                    "padded batch (nn.utils.rnn.pad_sequence) instead")
        x = G._t(input)
        check(x.ndim == 3, f"{name}: input must have 3 dimensions, got {x.ndim}")
        check(x.dtype == dtypes.float32,
              f"{name} takes float32 input, got {x.dtype}; convert it (x.float())")
        check(x.shape[-1] == self.input_size,
              f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
              f"{x.shape[-1]}")
        if self.batch_first:
            x = G.transpose(x, 0, 1)
        T, N = x.shape[0], x.shape[1]
        h0, c0 = self._hidden(hx, N, x.dtype)
        check(T > 0, "Expected sequence length to be larger than 0 in RNN")
        dirs = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                p = self._cell_params(layer, d)
                k = layer * dirs + d
                h, c = h0[k], (None if c0 is None else c0[k])
                gi = p.ih(x)            # one activation scale over the whole sequence
                ys = [None] * T
                for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
                    if self.mode == "LSTM":
                        h, c = lstm_gates(p.hh(h) + gi[t], c)
                    else:
                        h = gru_update(gi[t], p.hh(h), h)
                    ys[t] = h
                outs.append(SO.stack(ys))
                hs.append(h)
                cs.append(c)
            x = outs[0] if dirs == 1 else SO.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                from ......nn.functional import dropout
                x = dropout(x, p=self.dropout, training=True)
        out = G.transpose(x, 0, 1) if self.batch_first else x
        h_n = SO.stack(hs)
        if self.mode == "LSTM":
            return out, (h_n, SO.stack(cs))
        return out, h_n


def lstm_gates(gates: Tensor, c: Tensor):
    """(h', c') from the summed gate pre-activations (i, f, g, o chunks), in torch's float order."""
    H = c.shape[-1]
    i, f = G.sigmoid(gates[..., :H]), G.sigmoid(gates[..., H:2 * H])
    g, o = G.tanh(gates[..., 2 * H:3 * H]), G.sigmoid(gates[..., 3 * H:])
    c = f * c + i * g
    return o * G.tanh(c), c


def gru_update(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """h' from the input and hidden projections (r, z, n chunks), in torch's float order."""
    H = h.shape[-1]
    r = G.sigmoid(gh[..., :H] + gi[..., :H])
    z = G.sigmoid(gh[..., H:2 * H] + gi[..., H:2 * H])
    n = G.tanh(gi[..., 2 * H:] + gh[..., 2 * H:] * r)
    return (h - n) * z + n


class LSTM(RNNBase):
    """torch.ao.nn.quantized.dynamic.LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, dtype=qint8): int8 weights, fp32 state."""

    _FLOAT_TYPE = fp32_rnn.LSTM

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """torch.ao.nn.quantized.dynamic.GRU(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, dtype=qint8)."""

    _FLOAT_TYPE = fp32_rnn.GRU

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


# ---- cells --------------------------------------------------------------------------------------


class RNNCellBase(Module):
    """One int8 step: `_packed_weight_ih` and `_packed_weight_hh` (QuantizedLinear), as torch's."""

    _FLOAT_TYPE = None
    _NAME = "DynamicQuantizedRNNBase"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, num_chunks: int = 4,
                 dtype=dtypes.qint8, per_channel: bool = False):
        super().__init__()
        _check_dtype(dtype, f"{self._NAME}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_dtype, self.per_channel = dtype, bool(per_channel)
        gate = num_chunks * hidden_size
        self._packed_weight_ih = _qlinear(input_size, gate, bias, per_channel)
        self._packed_weight_hh = _qlinear(hidden_size, gate, bias, per_channel)
        self.training = False

    @property
    def bias_ih(self):
        """The fp32 input bias (None without bias), as torch's cell attribute."""
        return self._packed_weight_ih.bias if self.bias else None

    @property
    def bias_hh(self):
        """The fp32 hidden bias (None without bias), as torch's cell attribute."""
        return self._packed_weight_hh.bias if self.bias else None

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False, per_channel=None):
        """Quantize an fp32 graphc nn.LSTMCell / GRUCell / RNNCell (arrays copied)."""
        who = cls._NAME
        if type(mod) is not cls._FLOAT_TYPE:
            raise GraphcError(f"{who}.from_float takes an nn.{cls._FLOAT_TYPE.__name__}, got "
                              f"{type(mod).__name__}")
        if per_channel is None:
            per_channel = qconfig_per_channel(getattr(mod, "qconfig", None))
        kw = {"nonlinearity": mod.nonlinearity} if cls is RNNCell else {}
        q = cls(mod.input_size, mod.hidden_size, bias=mod.bias, per_channel=per_channel, **kw)
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if mod.bias else [])
        w = _float_weights(mod, names, who)
        q._packed_weight_ih = _quantized_from(w["weight_ih"], w.get("bias_ih"), per_channel)
        q._packed_weight_hh = _quantized_from(w["weight_hh"], w.get("bias_hh"), per_channel)
        q.training = False
        return q

    extra_repr = fp32_rnn.RNNCellBase.extra_repr   # torch's repr of a cell: the float one's

    def __repr__(self) -> str:
        return _repr(self, self._NAME)

    def get_weight(self) -> dict:
        """{"weight_ih": quantized tensor, "weight_hh": ...}, as torch's."""
        return _weight_bias([("", self._packed_weight_ih, self._packed_weight_hh)])["weight"]

    def get_bias(self) -> dict:
        """{"bias_ih": fp32 tensor (None without bias), "bias_hh": ...}, as torch's."""
        return _weight_bias([("", self._packed_weight_ih, self._packed_weight_hh)])["bias"]

    def _input(self, input) -> Tensor:
        x = G._t(input)
        check(x.ndim == 2, f"{self._NAME}: input must be 2-D (batch, input_size), got {x.ndim}-D")
        check(x.dtype == dtypes.float32,
              f"{self._NAME} takes float32 input, got {x.dtype}; convert it (x.float())")
        check(x.shape[1] == self.input_size,
              f"input has inconsistent input_size: got {x.shape[1]}, expected {self.input_size}")
        return x

    def _state(self, x: Tensor, hx, label: str) -> Tensor:
        h = G._t(hx)
        check(h.ndim == 2 and h.shape[0] == x.shape[0],
              f"Input batch size {x.shape[0]} doesn't match hidden{label} batch size "
              f"{h.shape[0] if h.ndim else list(h.shape)}")
        check(h.shape[1] == self.hidden_size,
              f"hidden{label} has inconsistent hidden_size: got {h.shape[1]}, expected "
              f"{self.hidden_size}")
        check(h.dtype == dtypes.float32, f"hidden{label} must be float32, got {h.dtype}")
        return h

    def _zeros(self, x: Tensor) -> Tensor:
        return G.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)


class RNNCell(RNNCellBase):
    """torch.ao.nn.quantized.dynamic.RNNCell(input_size, hidden_size, bias=True,
    nonlinearity='tanh', dtype=qint8)."""

    _FLOAT_TYPE = fp32_rnn.RNNCell
    _NAME = "DynamicQuantizedRNNCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=dtypes.qint8, per_channel: bool = False):
        check(nonlinearity in ("tanh", "relu"), f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, dtype, per_channel)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """h' = tanh (or relu) of qlinear(h, W_hh, b_hh) + qlinear(x, W_ih, b_ih)."""
        x = self._input(input)
        h = self._zeros(x) if hx is None else self._state(x, hx, "")
        pre = self._packed_weight_hh(h) + self._packed_weight_ih(x)
        return G.tanh(pre) if self.nonlinearity == "tanh" else G.relu(pre)


class LSTMCell(RNNCellBase):
    """torch.ao.nn.quantized.dynamic.LSTMCell(input_size, hidden_size, bias=True, dtype=qint8):
    forward returns (h', c')."""

    _FLOAT_TYPE = fp32_rnn.LSTMCell
    _NAME = "DynamicQuantizedLSTMCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype=dtypes.qint8, per_channel: bool = False):
        super().__init__(input_size, hidden_size, bias, 4, dtype, per_channel)

    def forward(self, input, hx=None):
        """(h', c') from gates i, f, g, o of qlinear(h) + qlinear(x)."""
        x = self._input(input)
        if hx is None:
            h = c = self._zeros(x)
        else:
            check(isinstance(hx, (tuple, list)) and len(hx) == 2,
                  f"{self._NAME} expects hx as a tuple (h_0, c_0)")
            h, c = self._state(x, hx[0], "[0]"), self._state(x, hx[1], "[1]")
        return lstm_gates(self._packed_weight_hh(h) + self._packed_weight_ih(x), c)


class GRUCell(RNNCellBase):
    """torch.ao.nn.quantized.dynamic.GRUCell(input_size, hidden_size, bias=True, dtype=qint8)."""

    _FLOAT_TYPE = fp32_rnn.GRUCell
    _NAME = "DynamicQuantizedGRUCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype=dtypes.qint8, per_channel: bool = False):
        super().__init__(input_size, hidden_size, bias, 3, dtype, per_channel)

    def forward(self, input, hx=None):
        """h' from gates r, z, n of qlinear(x) and qlinear(h)."""
        x = self._input(input)
        h = self._zeros(x) if hx is None else self._state(x, hx, "")
        return gru_update(self._packed_weight_ih(x), self._packed_weight_hh(h), h)
