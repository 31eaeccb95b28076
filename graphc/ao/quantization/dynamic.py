"""torch.ao.quantization's quantize_dynamic: int8 Linear, LSTM, GRU and cells, with a report.

    qnet = graphc.quantization.quantize_dynamic(net)   # Linear, LSTM, GRU, LSTMCell, GRUCell, RNNCell
    print(qnet.quantization_summary())          # which layers are int8, which stay fp32 and why
    logits = graphc.compile(qnet)(x)            # int8 weights, activations quantized per call

The layers are swapped for graphc.ao.nn.quantized.dynamic's (Linear, LSTM, GRU, the cells):
weights quantized once (symmetric int8, per tensor or per output channel); each call quantizes
its input with one scale for the whole batch and runs the `qlinear` op (graphc/ir/ops/quant.py
has the exact formulas, which match torch's fbgemm bit for bit; the recurrent layers' numbers
are described in graphc/ao/nn/quantized/dynamic/modules/rnn.py). `layer_report` compares every
quantized layer with its fp32 original on a sample batch.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ... import dtypes
from ...driver import tracing
from ...errors import GraphcError
from ...nn import rnn
from ...nn.layers import Linear, NonDynamicallyQuantizableLinear
from ...nn.module import Module
from ...tensor import Tensor, check
from ..nn.quantized.dynamic import modules as nnqd
from ..nn.quantized.dynamic.modules.linear import QuantizedLinear, qconfig_per_channel

__all__ = ["LayerReport", "QuantizedLinear", "layer_report", "qconfig_per_channel",
           "quantize_dynamic"]


# ---- quantize_dynamic ---------------------------------------------------------------------------


def _float_types() -> dict[type, str]:
    """The fp32 layer types quantize_dynamic can swap, to the name of their dynamic int8 class."""
    return {Linear: "Linear", rnn.LSTM: "LSTM", rnn.GRU: "GRU", rnn.LSTMCell: "LSTMCell",
            rnn.GRUCell: "GRUCell", rnn.RNNCell: "RNNCell"}


# torch's default for dtype=qint8 (default_dynamic_qconfig on each of these types)
DEFAULT_TYPES = (Linear, rnn.LSTM, rnn.GRU, rnn.LSTMCell, rnn.RNNCell, rnn.GRUCell)


@dataclass
class LayerRecord:
    """What quantize_dynamic did with one layer (Linear, LSTM, GRU or a cell)."""

    name: str
    in_features: int     # input_size for the recurrent layers
    out_features: int    # hidden_size for the recurrent layers
    quantized: bool
    detail: str          # "per-tensor (s_w=...)" or why it stayed fp32
    kind: str = "Linear"

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (one row of the layer report)."""
        return {"layer": self.name or "(model)", "kind": self.kind,
                "in_features": self.in_features, "out_features": self.out_features,
                "quantized": self.quantized, "detail": self.detail}


class QuantizationSummary:
    """Attached to a quantized model as `quantization_summary`; call it for the printable text."""

    def __init__(self, records: list[LayerRecord]):
        self.records = records

    def __call__(self) -> str:
        n_q = sum(r.quantized for r in self.records)
        kinds = sorted({r.kind for r in self.records}, key=lambda k: (k != "Linear", k))
        lines = [(f"quantize_dynamic: {len(self.records)} {'/'.join(kinds) or 'Linear'} "
                  f"layer(s): {n_q} int8, {len(self.records) - n_q} kept fp32")]
        width = max([len(r.name or "(model)") for r in self.records] + [5])
        for r in self.records:
            shape = f"{r.in_features} -> {r.out_features}"
            what = "int8" if r.quantized else "fp32"
            lines.append(f"  {r.name or '(model)':<{width}}  {r.kind:<8}  {shape:>12}  {what}  "
                         f"{r.detail}")
        lines.append("activations: quantized on every call (one scale per batch, 7-bit range; a "
                     "recurrent layer's input projection takes one scale over the whole sequence, "
                     "its hidden projection one per step); a call whose input holds NaN/inf runs "
                     "that projection in fp32; other layers are unchanged (fp32)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self()


def quantize_dynamic(model: Module, qconfig_spec=None, dtype=dtypes.qint8,
                     per_channel: bool = False, keep_fp32: Iterable[str] = (),
                     inplace: bool = False) -> Module:
    """A copy of `model` whose selected layers are dynamically quantized (the original is
    untouched unless inplace=True).

    Covers what torch's quantize_dynamic covers for qint8: nn.Linear, nn.LSTM, nn.GRU,
    nn.LSTMCell, nn.GRUCell and nn.RNNCell, swapped for graphc.ao.nn.quantized.dynamic's Linear,
    LSTM, GRU, LSTMCell, GRUCell and RNNCell. qconfig_spec: a set (or dict) of module types and/or
    layer names, as in torch; default: all six types (torch's default for qint8). A dict's values
    may be qconfigs: a per-channel weight observer (torch's per_channel_dynamic_qconfig) selects
    per-row weight scales for that entry; `per_channel=True` selects them everywhere. A name
    selects that layer and the layers inside it. keep_fp32: names of layers to leave in fp32.
    Every candidate layer is listed in `.quantization_summary()` as quantized or kept, with the
    reason.
    """
    if not isinstance(model, Module):
        raise GraphcError(f"quantize_dynamic needs an nn.Module, got {type(model).__name__}")
    if dtype is not dtypes.qint8:
        raise GraphcError(f"quantize_dynamic supports dtype=graphc.qint8 only, got {dtype!r}")
    entries = _parse_spec(qconfig_spec)
    names = {n for n in entries if isinstance(n, str)}
    keep = {keep_fp32} if isinstance(keep_fp32, str) else set(keep_fp32)
    qmodel = model if inplace else copy.deepcopy(model)
    kinds = _float_types()
    layers = [(n, m) for n, m in qmodel.named_modules()
              if isinstance(m, tuple(kinds)) and not isinstance(m, NonDynamicallyQuantizableLinear)]
    known = {n for n, _ in layers}
    for what, given in (("keep_fp32", keep), ("qconfig_spec", names)):
        unknown = sorted(n for n in given if n not in known and n != ""
                         and not any(k.startswith(n + ".") for k in known))
        if unknown:
            raise GraphcError(f"quantize_dynamic: {what} names {unknown}, which are not "
                              f"quantizable layers (Linear, LSTM, GRU, cells) or modules holding "
                              f"some, of {type(model).__name__}; its quantizable layers are "
                              f"{sorted(known) or 'none'}")
    records, replace = [], {}
    for name, mod in layers:
        kind = _kind(mod, kinds)
        why = _why_fp32(name, mod, entries, keep)
        pc = bool(per_channel) or (why is None and _channel_for(_entry_for(name, mod, entries)))
        sizes = ((mod.in_features, mod.out_features) if kind == "Linear"
                 else (mod.input_size, mod.hidden_size))
        if why is None and id(mod) not in replace:
            replace[id(mod)] = getattr(nnqd, kind).from_float(mod, per_channel=pc)
        if why is None:
            detail = f"{'per-channel' if pc else 'per-tensor'} ({_scales(replace[id(mod)])})"
        else:
            detail = f"kept: {why}"
        records.append(LayerRecord(name, *sizes, why is None, detail, kind))
    for _, parent in list(qmodel.named_modules()):   # every reference, shared layers included
        for cname, child in list(parent._modules.items()):
            if id(child) in replace:
                parent._modules[cname] = replace[id(child)]
    root = replace.get(id(qmodel), qmodel)
    root.quantization_summary = QuantizationSummary(records)
    return root


def _kind(mod: Module, kinds: dict) -> str:
    return next(k for t, k in kinds.items() if isinstance(mod, t))


def _scales(q: Module) -> str:
    """The weight scales of a quantized layer, for its summary line."""
    s = np.concatenate([np.asarray(m.w_scale._data, np.float32).reshape(-1)
                        for m in q.modules() if isinstance(m, QuantizedLinear)])
    n = sum(isinstance(m, QuantizedLinear) for m in q.modules())
    what = f"{n} weights, " if n > 1 else ""
    if s.size == 1:
        return f"{what}s_w={float(s[0]):.4g}"
    return f"{what}s_w in [{float(s.min()):.4g}, {float(s.max()):.4g}]"


_DEFAULT = object()   # a set member of qconfig_spec: torch's default_dynamic_qconfig
_MISSING = object()   # no entry of qconfig_spec applies to the layer


def _parse_spec(spec) -> dict:
    """{type or layer name: qconfig (None: keep fp32) or _DEFAULT} from a qconfig_spec."""
    if spec is None:
        spec = set(DEFAULT_TYPES)
    if isinstance(spec, (type, str)):
        spec = {spec}
    kinds = tuple(_float_types())
    entries = dict(spec) if isinstance(spec, dict) else dict.fromkeys(spec, _DEFAULT)
    for item in entries:
        if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, kinds))):
            what = item.__name__ if isinstance(item, type) else repr(item)
            raise GraphcError(
                f"quantize_dynamic: cannot quantize {what}; torch's quantize_dynamic (and graphc's) "
                "covers the recurrent nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell and "
                "Linear layers only (pass those types or layer names)")
    return entries


def _entry_for(name: str, mod: Module, entries: dict):
    """The spec entry that applies to a layer, as torch's propagate_qconfig_ picks it: the layer's
    own name, else its exact type, else the longest enclosing module's name; _MISSING if none."""
    if name in entries:
        return entries[name]
    if type(mod) in entries:
        return entries[type(mod)]
    hits = [n for n in entries if isinstance(n, str) and (n == "" or name.startswith(n + "."))]
    return entries[max(hits, key=len)] if hits else _MISSING


def _channel_for(qconfig) -> bool:
    """Whether the qconfig of the entry that selected a layer asks for per-channel weights."""
    return qconfig is not _DEFAULT and qconfig_per_channel(qconfig)


def _why_fp32(name: str, mod: Module, entries: dict, keep: set) -> str | None:
    """None if the layer is to be quantized, else the reason it stays fp32."""
    if name in keep:
        return "listed in keep_fp32"
    qconfig = _entry_for(name, mod, entries)
    if qconfig is _MISSING:
        types = tuple(t for t in entries if isinstance(t, type))
        if isinstance(mod, types):
            return (f"type {type(mod).__name__} is a subclass of {type(mod).__mro__[1].__name__} "
                    "not named in qconfig_spec (its forward may differ)")
        return "not selected by qconfig_spec"
    if qconfig is None:
        return "its qconfig_spec entry is None (as torch, None leaves a layer in fp32)"
    if type(mod) not in _float_types() and not isinstance(mod, Linear):
        return (f"type {type(mod).__name__} subclasses a recurrent layer; only the layer types "
                "themselves are swapped (their forward is replaced)")
    if getattr(mod, "proj_size", 0):
        return (f"proj_size={mod.proj_size}: torch's dynamic quantized LSTM has no projections")
    for pname, p in mod.named_parameters():
        w = np.asarray(p._data)
        if w.dtype != np.float32:
            return f"{pname} is {w.dtype} (only float32 layers are quantized)"
        if not np.isfinite(w).all():
            return ("its weight or bias holds NaN or inf" if isinstance(mod, Linear)
                    else f"{pname} holds NaN or inf")
    return None


# ---- per-layer error report ---------------------------------------------------------------------


class LayerReport(NamedTuple):
    """`text` (a table) and `rows` (one dict per quantized layer); str() gives the table."""

    text: str
    rows: list

    def __str__(self) -> str:
        return self.text


def layer_report(fp32_model: Module, qmodel: Module, sample_inputs) -> LayerReport:
    """For each quantized layer: its int8 output vs the fp32 layer's on the same layer input.

    Runs `fp32_model` eagerly (on the interpreter) on `sample_inputs` (an array or a tuple of
    arguments), records what each quantized layer's fp32 original receives (a Linear's input; a
    recurrent layer's input and initial state), and feeds that to both versions of the layer.
    Row keys: layer, kind (Linear, LSTM, GRU, LSTMCell, ...), in_features (input_size),
    out_features (hidden_size), scheme, rows (input rows seen: T * N for a sequence), max_abs
    (largest |int8 - fp32|), rel (||int8 - fp32|| / ||fp32||, L2 over all outputs, a recurrent
    layer's output sequence and final states together), fp32_max_abs (largest |fp32 output|, for
    scale), fallback (an input held NaN/inf: that projection ran in fp32).
    """
    check(tracing.current() is None, "layer_report runs eagerly; call it outside graphc.compile")
    args = sample_inputs if isinstance(sample_inputs, tuple) else (sample_inputs,)
    fp_mods = dict(fp32_model.named_modules())
    kinds = _float_types()
    targets, inside = [], []
    for n, m in qmodel.named_modules():
        if any(n.startswith(p + ".") for p in inside):
            continue                     # the int8 projections inside a recurrent layer
        if isinstance(m, (nnqd.rnn.RNNBase, nnqd.rnn.RNNCellBase)):
            inside.append(n)
            targets.append((n, m))
        elif isinstance(m, QuantizedLinear):
            targets.append((n, m))
    pairs = []
    for name, q in targets:
        fp = fp_mods.get(name)
        if isinstance(q, QuantizedLinear):
            ok = isinstance(fp, Linear) and fp.weight.shape == q.weight.shape
            want = f"Linear {name or '(model)'} of shape {list(q.weight.shape)}"
        else:
            ok = (isinstance(fp, Module) and kinds.get(type(fp)) == type(q).__name__
                  and all(getattr(fp, a, None) == getattr(q, a) for a in
                          ("input_size", "hidden_size", "num_layers", "bidirectional")
                          if hasattr(q, a)))
            want = f"{type(q).__name__} {name or '(model)'} ({q.extra_repr()})"
        if not ok:
            raise GraphcError(f"layer_report: {type(fp32_model).__name__} has no {want} "
                              "matching the quantized model; pass the model quantize_dynamic "
                              "was given")
        pairs.append((name, fp, q))
    seen: dict[int, list[tuple]] = {}
    for _, fp, _ in pairs:
        if id(fp) not in seen:
            seen[id(fp)] = []
            _record_inputs(fp, seen[id(fp)])
    try:
        fp32_model(*args)
    finally:
        for _, fp, _ in pairs:
            fp.__dict__.pop("forward", None)
    rows = []
    for name, fp, q in pairs:
        calls = seen[id(fp)]
        lin = isinstance(q, QuantizedLinear)
        row = {"layer": name or "(model)", "kind": kinds.get(type(fp), "Linear"),
               "in_features": q.in_features if lin else q.input_size,
               "out_features": q.out_features if lin else q.hidden_size,
               "scheme": "per-channel" if q.per_channel else "per-tensor",
               "rows": 0, "max_abs": float("nan"), "rel": float("nan"),
               "fp32_max_abs": float("nan"), "fallback": False}
        if calls:
            yf = np.concatenate([_flat(fp(*a, **kw)) for a, kw in calls])
            yq = np.concatenate([_flat(q(*a, **kw)) for a, kw in calls])
            d = yq - yf
            fin = np.isfinite(yf) & np.isfinite(yq)
            norm = float(np.linalg.norm(yf[fin]))
            row.update(rows=sum(int(np.prod(a[0].shape[:-1])) for a, _ in calls),
                       max_abs=float(np.abs(d[fin]).max(initial=0.0)),
                       rel=float(np.linalg.norm(d[fin]) / norm) if norm else 0.0,
                       fp32_max_abs=float(np.abs(yf[fin]).max(initial=0.0)),
                       fallback=any(not np.isfinite(t).all() for a, kw in calls
                                    for t in _arrays((a, kw))))
        rows.append(row)
    return LayerReport(_table(rows), rows)


def _snapshot(v):
    """A copy of a layer argument: tensors as float32 arrays, tuples recursively."""
    if isinstance(v, (tuple, list)):
        return type(v)(_snapshot(t) for t in v)
    if isinstance(v, (Tensor, np.ndarray)):
        return np.array(v.numpy() if isinstance(v, Tensor) else v, np.float32)
    return v


def _arrays(v):
    if isinstance(v, dict):
        v = tuple(v.values())
    if isinstance(v, (tuple, list)):
        return [a for t in v for a in _arrays(t)]
    return [v] if isinstance(v, np.ndarray) else []


def _flat(out) -> np.ndarray:
    """Every tensor of a layer's output (nested tuples: output, h_n, c_n) as one float64 vector."""
    if isinstance(out, (tuple, list)):
        return np.concatenate([_flat(t) for t in out if t is not None])
    return np.asarray(out.numpy() if isinstance(out, Tensor) else out, np.float64).reshape(-1)


def _record_inputs(layer: Module, store: list) -> None:
    cls_forward = type(layer).forward

    def forward(*args, **kw):
        store.append((_snapshot(args), {k: _snapshot(v) for k, v in kw.items()}))
        return cls_forward(layer, *args, **kw)
    layer.__dict__["forward"] = forward  # an instance attribute shadows the class's forward


def _table(rows: list[dict]) -> str:
    head = ("layer", "kind", "shape", "scheme", "rows", "max |int8 - fp32|", "relative (L2)",
            "max |fp32|")
    body = [(r["layer"], r["kind"], f"{r['in_features']} -> {r['out_features']}", r["scheme"],
             str(r["rows"]), f"{r['max_abs']:.3g}", f"{r['rel']:.3g}",
             f"{r['fp32_max_abs']:.3g}" + (" (fp32 fallback)" if r["fallback"] else ""))
            for r in rows]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in body]
    return "\n".join(line.rstrip() for line in lines)
