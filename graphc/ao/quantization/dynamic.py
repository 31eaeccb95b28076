"""graphc.quantization: dynamic int8 quantization of Linear layers, as torch.ao.quantization.

    qnet = graphc.quantization.quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    print(qnet.quantization_summary())          # which layers are int8, which stay fp32 and why
    logits = graphc.compile(qnet)(x)            # int8 weights, activations quantized per call

Weights are quantized once here (symmetric int8, per tensor or per output channel); each call
quantizes its input with one scale for the whole batch and runs the `qlinear` op (see
graphc/ir/ops/quant.py for the exact formulas, which match torch's fbgemm bit for bit).
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
from ...ir.ops.quant import quantize_weight
from ...nn.layers import Linear, NonDynamicallyQuantizableLinear
from ...nn.module import Module
from ...tensor import Tensor, apply, check

__all__ = ["LayerReport", "QuantizedLinear", "layer_report", "quantize_dynamic"]


class QuantizedLinear(Module):
    """A Linear with int8 weights; its input is quantized to 7-bit unsigned on every call.

    Buffers (all plain NumPy arrays in state_dict): `weight_q` i8[out, in], `w_scale` f32[]
    (per tensor) or f32[out] (per channel), `w_colsum` i32[out] (row sums of weight_q, for the
    zero-point correction), `bias` f32[out] (zeros without a bias) and `weight` f32[out, in], the
    original weight, used only when an input holds NaN or inf (that call runs in fp32).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 per_channel: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.has_bias, self.per_channel = bool(bias), bool(per_channel)
        self.register_buffer("weight_q", np.zeros((out_features, in_features), np.int8))
        self.register_buffer("w_scale", np.ones((out_features,) if per_channel else (), np.float32))
        self.register_buffer("w_colsum", np.zeros(out_features, np.int32))
        self.register_buffer("bias", np.zeros(out_features, np.float32))
        self.register_buffer("weight", np.zeros((out_features, in_features), np.float32))

    @classmethod
    def from_float(cls, linear: Linear, per_channel: bool = False) -> QuantizedLinear:
        """Quantize an fp32 nn.Linear's weight (its arrays are copied, never shared)."""
        w = np.asarray(linear.weight._data)
        b = None if linear.bias is None else np.asarray(linear.bias._data)
        return cls.from_weight(w, b, per_channel)

    @classmethod
    def from_weight(cls, w: np.ndarray, b: np.ndarray | None = None,
                    per_channel: bool = False) -> QuantizedLinear:
        """Quantize a float32 weight [out, in] with an optional fp32 bias [out] (both copied)."""
        w = np.asarray(w)
        check(w.dtype == np.float32 and w.ndim == 2,
              f"QuantizedLinear: weight is {w.dtype}{list(w.shape)}, not a 2-D float32 array")
        m = cls(w.shape[1], w.shape[0], b is not None, per_channel=per_channel)
        q, s, cs = quantize_weight(w, per_channel)
        np.copyto(m.weight_q._data, q)
        np.copyto(m.w_scale._data, s)
        np.copyto(m.w_colsum._data, cs)
        np.copyto(m.weight._data, w)
        if b is not None:
            np.copyto(m.bias._data, np.asarray(b, np.float32))
        return m

    def forward(self, x):
        """x @ W^T + b with int8 W and x quantized on each call (in fp32 if x holds NaN/inf)."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        check(x.ndim >= 1 and x.shape[-1] == self.in_features,
              f"QuantizedLinear({self.in_features} -> {self.out_features}): input {x.type} must "
              f"have {self.in_features} features in its last dim")
        check(x.dtype == dtypes.float32,
              f"QuantizedLinear takes float32 input, got {x.dtype}; convert it "
              "(e.g. x.astype(np.float32))")
        return apply("qlinear", x, self.weight_q, self.w_scale, self.w_colsum, self.bias,
                     self.weight, relu=False, has_bias=self.has_bias)

    def extra_repr(self) -> str:
        """Sizes, bias and quantization scheme, for the module's repr."""
        scheme = "per_channel" if self.per_channel else "per_tensor"
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.has_bias}, dtype=qint8, qscheme={scheme}"


# ---- quantize_dynamic ---------------------------------------------------------------------------


@dataclass
class LayerRecord:
    """What quantize_dynamic did with one Linear layer."""

    name: str
    in_features: int
    out_features: int
    quantized: bool
    detail: str          # "int8 per-tensor (s_w=...)" or why it stayed fp32

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (one row of the layer report)."""
        return {"layer": self.name or "(model)", "in_features": self.in_features,
                "out_features": self.out_features, "quantized": self.quantized,
                "detail": self.detail}


class QuantizationSummary:
    """Attached to a quantized model as `quantization_summary`; call it for the printable text."""

    def __init__(self, records: list[LayerRecord]):
        self.records = records

    def __call__(self) -> str:
        n_q = sum(r.quantized for r in self.records)
        lines = [(f"quantize_dynamic: {len(self.records)} Linear layer(s): {n_q} int8, "
                  f"{len(self.records) - n_q} kept fp32")]
        width = max([len(r.name or "(model)") for r in self.records] + [5])
        for r in self.records:
            shape = f"{r.in_features} -> {r.out_features}"
            what = "int8" if r.quantized else "fp32"
            lines.append(f"  {r.name or '(model)':<{width}}  {shape:>12}  {what}  {r.detail}")
        lines.append("activations: quantized on every call (one scale per batch, 7-bit range); a "
                     "call whose input holds NaN/inf runs that layer in fp32; other layers are "
                     "unchanged (fp32)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self()


def quantize_dynamic(model: Module, qconfig_spec=None, dtype=dtypes.qint8,
                     per_channel: bool = False, keep_fp32: Iterable[str] = ()) -> Module:
    """A copy of `model` whose selected nn.Linear layers are QuantizedLinear (the original is
    untouched).

    qconfig_spec: a set (or dict, keys used) of module types and/or layer names, as in torch;
    default {nn.Linear}. A name selects that layer and the layers inside it. keep_fp32: names of
    Linear layers to leave in fp32. Every Linear layer is listed in `.quantization_summary()` as
    quantized or kept, with the reason.
    """
    if not isinstance(model, Module):
        raise GraphcError(f"quantize_dynamic needs an nn.Module, got {type(model).__name__}")
    if dtype is not dtypes.qint8:
        raise GraphcError(f"quantize_dynamic supports dtype=graphc.qint8 only, got {dtype!r}")
    types, names = _parse_spec(qconfig_spec)
    keep = {keep_fp32} if isinstance(keep_fp32, str) else set(keep_fp32)
    qmodel = copy.deepcopy(model)
    linears = [(n, m) for n, m in qmodel.named_modules()
               if isinstance(m, Linear) and not isinstance(m, NonDynamicallyQuantizableLinear)]
    known = {n for n, _ in linears}
    for what, given in (("keep_fp32", keep), ("qconfig_spec", names)):
        unknown = sorted(n for n in given if n not in known
                         and not any(k.startswith(n + ".") for k in known))
        if unknown:
            raise GraphcError(f"quantize_dynamic: {what} names {unknown}, which are not Linear "
                              f"layers (or modules holding some) of {type(model).__name__}; its "
                              f"Linear layers are {sorted(known) or 'none'}")
    records, replace = [], {}
    for name, lin in linears:
        why = _why_fp32(name, lin, types, names, keep)
        if why is None:
            q = QuantizedLinear.from_float(lin, per_channel)
            replace[id(lin)] = q
            s = q.w_scale._data
            scale = (f"s_w={float(s):.4g}" if s.ndim == 0
                     else f"s_w in [{float(s.min()):.4g}, {float(s.max()):.4g}]")
            detail = f"{'per-channel' if per_channel else 'per-tensor'} ({scale})"
        else:
            detail = f"kept: {why}"
        records.append(LayerRecord(name, lin.in_features, lin.out_features, why is None, detail))
    for _, parent in list(qmodel.named_modules()):   # every reference, shared layers included
        for cname, child in list(parent._modules.items()):
            if id(child) in replace:
                parent._modules[cname] = replace[id(child)]
    root = replace.get(id(qmodel), qmodel)
    root.quantization_summary = QuantizationSummary(records)
    return root


def _parse_spec(spec) -> tuple[set, set]:
    if spec is None:
        spec = {Linear}
    if isinstance(spec, (type, str)):
        spec = {spec}
    types, names = set(), set()
    for item in spec:  # a dict iterates its keys (torch's {nn.Linear: qconfig} form)
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, type) and issubclass(item, Linear):
            types.add(item)
        else:
            what = item.__name__ if isinstance(item, type) else repr(item)
            raise GraphcError(f"quantize_dynamic: cannot quantize {what}; graphc quantizes "
                              "nn.Linear layers only (pass {nn.Linear} or layer names)")
    return types, names


def _why_fp32(name: str, lin: Linear, types: set, names: set, keep: set) -> str | None:
    """None if the layer is to be quantized, else the reason it stays fp32."""
    if name in keep:
        return "listed in keep_fp32"
    selected = type(lin) in types or any(name == n or name.startswith(n + ".") for n in names)
    if not selected:
        if isinstance(lin, tuple(types)):
            return (f"type {type(lin).__name__} is a subclass of Linear not named in qconfig_spec "
                    "(its forward may differ)")
        return "not selected by qconfig_spec"
    w = np.asarray(lin.weight._data)
    if w.dtype != np.float32:
        return f"weight is {w.dtype} (only float32 layers are quantized)"
    b = None if lin.bias is None else np.asarray(lin.bias._data)
    if not np.isfinite(w).all() or (b is not None and not np.isfinite(b).all()):
        return "its weight or bias holds NaN or inf"
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
    arguments), records what each Linear receives, and feeds that to both versions of the layer.
    Row keys: layer, in_features, out_features, scheme, rows (inputs seen), max_abs (largest
    |int8 - fp32|), rel (||int8 - fp32|| / ||fp32||, L2 over all outputs), fp32_max_abs
    (largest |fp32 output|, for scale), fallback (an input held NaN/inf: that call ran in fp32).
    """
    check(tracing.current() is None, "layer_report runs eagerly; call it outside graphc.compile")
    args = sample_inputs if isinstance(sample_inputs, tuple) else (sample_inputs,)
    fp_mods = dict(fp32_model.named_modules())
    targets = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, QuantizedLinear)]
    pairs = []
    for name, q in targets:
        fp = fp_mods.get(name)
        if not isinstance(fp, Linear) or fp.weight.shape != q.weight.shape:
            raise GraphcError(f"layer_report: {type(fp32_model).__name__} has no Linear "
                              f"{name or '(model)'} of shape {list(q.weight.shape)} matching the "
                              "quantized model; pass the model quantize_dynamic was given")
        pairs.append((name, fp, q))
    seen: dict[int, list[np.ndarray]] = {}
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
        xs = seen[id(fp)]
        row = {"layer": name or "(model)", "in_features": q.in_features,
               "out_features": q.out_features,
               "scheme": "per-channel" if q.per_channel else "per-tensor",
               "rows": 0, "max_abs": float("nan"), "rel": float("nan"),
               "fp32_max_abs": float("nan"), "fallback": False}
        if xs:
            yf = np.concatenate([np.asarray(fp(x).numpy(), np.float64).reshape(-1) for x in xs])
            yq = np.concatenate([np.asarray(q(x).numpy(), np.float64).reshape(-1) for x in xs])
            d = yq - yf
            fin = np.isfinite(yf) & np.isfinite(yq)
            norm = float(np.linalg.norm(yf[fin]))
            row.update(rows=sum(int(np.prod(x.shape[:-1])) for x in xs),
                       max_abs=float(np.abs(d[fin]).max(initial=0.0)),
                       rel=float(np.linalg.norm(d[fin]) / norm) if norm else 0.0,
                       fp32_max_abs=float(np.abs(yf[fin]).max(initial=0.0)),
                       fallback=any(not np.isfinite(x).all() for x in xs))
        rows.append(row)
    return LayerReport(_table(rows), rows)


def _record_inputs(layer: Linear, store: list) -> None:
    cls_forward = type(layer).forward

    def forward(x, *rest, **kw):
        store.append(np.array(x.numpy() if isinstance(x, Tensor) else x, np.float32))
        return cls_forward(layer, x, *rest, **kw)
    layer.__dict__["forward"] = forward  # an instance attribute shadows the class's forward


def _table(rows: list[dict]) -> str:
    head = ("layer", "shape", "scheme", "rows", "max |int8 - fp32|", "relative (L2)",
            "max |fp32|")
    body = [(r["layer"], f"{r['in_features']} -> {r['out_features']}", r["scheme"],
             str(r["rows"]), f"{r['max_abs']:.3g}", f"{r['rel']:.3g}",
             f"{r['fp32_max_abs']:.3g}" + (" (fp32 fallback)" if r["fallback"] else ""))
            for r in rows]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in body]
    return "\n".join(line.rstrip() for line in lines)
