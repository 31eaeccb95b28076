"""convert: a prepared (calibrated) or QAT-trained model -> its static int8 model, as
torch.ao.quantization.convert; plus graphc's per-layer fp32 fallback and the static layer report.

    model.qconfig = graphc.ao.quantization.get_default_qconfig("x86")
    prepared = graphc.ao.quantization.prepare(model)       # observers after QuantStub and layers
    prepared(calibration_batch)
    qmodel = graphc.ao.quantization.convert(prepared)      # nnq.Quantize / Linear / Conv2d / ...
    print(static_layer_report(prepared, qmodel, batch))    # per layer: qparams, error vs fp32

Swapping follows torch's default static mapping (QuantStub -> nnq.Quantize, DeQuantStub ->
nnq.DeQuantize, Linear / qat.Linear -> nnq.Linear, Conv2d / qat.Conv2d / ConvBn2d -> nnq.Conv2d,
ConvReLU2d / ConvBnReLU2d -> nniq.ConvReLU2d (a QAT BatchNorm folded into the weights first),
LinearReLU -> nniq.LinearReLU, FloatFunctional -> QFunctional, ReLU6 -> nnq.ReLU6); after
dynamic QAT pass `mapping=get_default_dynamic_quant_module_mappings()` as in torch.

`keep_fp32=("layer.name", ...)` (a graphc extension): those layers stay float inside the int8
model: their quantized input is dequantized, the float layer runs (observers and fake quants
removed, BatchNorm of a QAT ConvBn folded), and the result is quantized again with the
observer's scale and zero point, so the layers around them are unchanged.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ... import dtypes
from ...driver import tracing
from ...errors import GraphcError
from ...nn.module import Module
from ...quantized_tensor import QTensor, quantize_per_tensor
from ..nn.quantized.modules.utils import float_module_qparams
from .quantize import _convert, _remove_qconfig

__all__ = ["Fp32Fallback", "StaticLayerReport", "convert", "static_layer_report"]


class Fp32Fallback(Module):
    """A float layer inside a static int8 model: dequantize -> layer -> quantize (the output
    scale and zero point observed on it during calibration / QAT)."""

    def __init__(self, module: Module, scale: float, zero_point: int):
        super().__init__()
        self.module = module
        self.scale, self.zero_point = float(scale), int(zero_point)

    def forward(self, x):
        """The float layer on the dequantized input, its output quantized to quint8."""
        xf = x.dequantize() if isinstance(x, QTensor) else x
        return quantize_per_tensor(self.module(xf), self.scale, self.zero_point, dtypes.quint8)

    def extra_repr(self) -> str:
        """The output quantization parameters."""
        return f"scale={self.scale}, zero_point={self.zero_point}"


def _float_copy(mod: Module) -> Module:
    """`mod` as a plain float layer: QAT modules through to_float() (BatchNorm folded),
    observers, fake quants and qconfigs removed."""
    m = copy.deepcopy(mod)
    if hasattr(m, "weight_fake_quant") and hasattr(m, "to_float"):
        m = m.to_float()
    _remove_qconfig(m)
    for sub in m.modules():
        sub.__dict__.pop("qconfig", None)
    return m


def convert(module: Module, mapping=None, inplace: bool = False, remove_qconfig: bool = True,
            is_reference: bool = False, convert_custom_config_dict=None,
            use_precomputed_fake_quant: bool = False, keep_fp32: Iterable[str] = ()) -> Module:
    """Swap the prepared modules for their int8 counterparts (torch's convert); `keep_fp32`
    names layers to leave in float (see the module docstring). The input model is untouched
    unless inplace=True."""
    if not isinstance(module, Module):
        raise GraphcError(f"convert needs an nn.Module, got {type(module).__name__}")
    if is_reference:
        raise GraphcError("convert(is_reference=True): graphc has no reference quantized "
                          "modules; convert to the int8 modules (is_reference=False)")
    keep = {keep_fp32} if isinstance(keep_fp32, str) else set(keep_fp32)
    if not inplace:
        module = copy.deepcopy(module)
    if keep:
        named = dict(module.named_modules())
        unknown = sorted(n for n in keep if n not in named or not n)
        if unknown:
            raise GraphcError(f"convert: keep_fp32 names {unknown}, which are not submodules of "
                              f"{type(module).__name__} (its submodules: "
                              f"{sorted(n for n in named if n)[:20]})")
        for name in sorted(keep):
            parent_name, _, child = name.rpartition(".")
            parent = named[parent_name]
            mod = parent._modules[child]
            scale, zp = float_module_qparams(mod)
            parent._modules[child] = Fp32Fallback(_float_copy(mod), scale, zp)
    _convert(module, mapping, True, False, convert_custom_config_dict,
             use_precomputed_fake_quant)
    if remove_qconfig:
        _remove_qconfig(module)
    return module


# ---- the static layer report -------------------------------------------------------------------


class StaticLayerReport(NamedTuple):
    """`text` (a table) and `rows` (one dict per quantized layer); str() gives the table."""

    text: str
    rows: list

    def __str__(self) -> str:
        return self.text


def _quantized_layers(qmodel: Module):
    from ..nn.quantized import Quantize
    from ..nn.quantized.modules.linear import WeightedQuantized
    return [(n, m) for n, m in qmodel.named_modules()
            if isinstance(m, (WeightedQuantized, Quantize, Fp32Fallback))]


def _record(mod: Module, store: list) -> None:
    cls_forward = type(mod).forward

    def forward(*args, **kw):
        out = cls_forward(mod, *args, **kw)
        store.append(out)
        return out
    mod.__dict__["forward"] = forward   # an instance attribute shadows the class's forward


def static_layer_report(float_model: Module, qmodel: Module, sample_inputs) -> StaticLayerReport:
    """For each int8 layer of `qmodel` (Quantize, Linear, Conv2d, their ReLU forms, fp32
    fallbacks): its output scale, zero point and representable range, and the error of its
    dequantized output against the float model's layer of the same name on the same sample.

    `float_model` is the prepared (or QAT) model convert was given, or the float model;
    it runs on a deep copy (observers are not updated). Errors accumulate through the network,
    as in deployment. Row keys: layer, kind, scale, zero_point, range (lo, hi), max_abs,
    rel (L2), fp32_max_abs, clipped (fraction of float outputs outside the range).
    """
    if tracing.current() is not None:
        raise GraphcError("static_layer_report runs eagerly; call it outside graphc.compile")
    args = sample_inputs if isinstance(sample_inputs, tuple) else (sample_inputs,)
    fmodel = copy.deepcopy(float_model)
    fmods = dict(fmodel.named_modules())
    layers = _quantized_layers(qmodel)
    seen_q, seen_f = {}, {}
    for name, m in layers:
        if name not in fmods:
            raise GraphcError(f"static_layer_report: the float model has no layer {name!r}; pass "
                              "the model convert was given")
        seen_q[name], seen_f[name] = [], []
        _record(m, seen_q[name])
        _record(fmods[name], seen_f[name])
    try:
        fmodel(*args)
        qmodel(*args)
    finally:
        for name, m in layers:
            m.__dict__.pop("forward", None)
    rows = []
    for name, m in layers:
        qs, fs = seen_q[name], seen_f[name]
        if not qs or not fs or not isinstance(qs[0], QTensor):
            continue
        s, z = qs[0].q_scale(), qs[0].q_zero_point()
        yq = np.concatenate([np.asarray(q.dequantize().numpy(), np.float64).ravel() for q in qs])
        yf = np.concatenate([np.asarray((f.dequantize() if isinstance(f, QTensor) else f)
                                        .numpy(), np.float64).ravel() for f in fs])
        lo, hi = float(np.float32(s) * (0 - z)), float(np.float32(s) * (255 - z))
        d = yq - yf
        norm = float(np.linalg.norm(yf))
        rows.append({"layer": name, "kind": type(m).__name__, "scale": s, "zero_point": z,
                     "range": (lo, hi), "max_abs": float(np.abs(d).max(initial=0.0)),
                     "rel": float(np.linalg.norm(d) / norm) if norm else 0.0,
                     "fp32_max_abs": float(np.abs(yf).max(initial=0.0)),
                     "clipped": float(((yf < lo) | (yf > hi)).mean()) if yf.size else 0.0})
    return StaticLayerReport(_table(rows), rows)


def _table(rows: list[dict]) -> str:
    head = ("layer", "kind", "scale", "zero_point", "range", "max |int8 - fp32|",
            "relative (L2)", "clipped")
    body = [(r["layer"], r["kind"], f"{r['scale']:.4g}", str(r["zero_point"]),
             f"[{r['range'][0]:.3g}, {r['range'][1]:.3g}]", f"{r['max_abs']:.3g}",
             f"{r['rel']:.3g}", f"{100 * r['clipped']:.2f}%") for r in rows]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in body]
    return "\n".join(line.rstrip() for line in lines)
