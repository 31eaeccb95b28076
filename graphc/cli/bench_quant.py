"""The quantization workloads of `python -m graphc bench`: QAT training and static int8 inference.

The model is pytorch/examples' MNIST net written once against torch.ao.quantization's eager API
(QuantStub / DeQuantStub, ReLU modules so Conv-ReLU and Linear-ReLU fuse) and built twice from the
same class body, with `lib = graphc` and with `lib = torch`, loaded with the same weights:

- `qat`: the train step of the model after `fuse_modules_qat` + `prepare_qat` with the x86 QAT
  qconfig (fake-quantized weights and activations, observers updating), Adadelta, batch 64, beside
  the same step of the float model; graphc compiles both, PyTorch runs both eagerly.
- `qstatic`: inference of the model after `prepare` (x86's default qconfig: HistogramObserver
  activations, per-channel weights), calibration on 4 batches and
  `convert`: graphc's converted model compiled, PyTorch's converted model (fbgemm), ONNX Runtime's
  static QDQ quantization of the float model (per-channel weights, the same calibration batches),
  and graphc's float model, at batch 1 and 64.
"""
from __future__ import annotations

import functools
import io
import os
import tempfile

import numpy as np

import graphc
from graphc.cli.bench_cnn import data, weights

BATCH = 64


def build(lib, dropout: bool = False):
    """The MNIST net with quant/dequant stubs and ReLU modules, as a `lib.nn.Module`."""
    nn, F, tq = lib.nn, lib.nn.functional, lib.ao.quantization

    class QuantMnistNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv1, self.relu1 = nn.Conv2d(1, 32, 3, 1), nn.ReLU()
            self.conv2, self.relu2 = nn.Conv2d(32, 64, 3, 1), nn.ReLU()
            self.dropout1 = nn.Dropout(0.25 if dropout else 0.0)
            self.dropout2 = nn.Dropout(0.5 if dropout else 0.0)
            self.fc1, self.relu3 = nn.Linear(9216, 128), nn.ReLU()
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.relu2(self.conv2(self.relu1(self.conv1(self.quant(x)))))
            x = lib.flatten(self.dropout1(F.max_pool2d(x, 2)), 1)
            x = self.fc2(self.dropout2(self.relu3(self.fc1(x))))
            return F.log_softmax(self.dequant(x), dim=1)
    return QuantMnistNet()


FUSE = [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]


def _float(lib, init: dict):
    model = build(lib)
    model.load_state_dict({k: lib.tensor(a) if lib is graphc else lib.from_numpy(a.copy())
                           for k, a in init.items()})
    return model


def qat_model(lib, init: dict):
    """The float model fused and prepared for QAT (x86 qconfig), in train mode."""
    tq = lib.ao.quantization
    model = _float(lib, init).train()
    model = tq.fuse_modules_qat(model, FUSE)
    model.qconfig = tq.get_default_qat_qconfig("x86")
    return tq.prepare_qat(model)


def int8_model(lib, init: dict, calibration):
    """The float model fused, prepared, calibrated on `calibration`, converted."""
    tq = lib.ao.quantization
    model = _float(lib, init).eval()
    model = tq.fuse_modules(model, FUSE)
    model.qconfig = tq.get_default_qconfig("x86")
    model = tq.prepare(model)
    for xb in calibration:
        model(lib.tensor(xb) if lib is graphc else lib.from_numpy(xb))
    return tq.convert(model)


def _calibration():
    return [data("mnist", BATCH, seed=10 + i)[0] for i in range(4)]


def train_contenders(frameworks: bool = True) -> dict:
    """contender -> a zero-argument train step returning its loss: `graphc llvm` and
    `pytorch eager` train the QAT model, the `fp32` ones the float model."""
    x, y = data("mnist", BATCH)
    init = weights("mnist")

    def step(lib, model):
        opt = lib.optim.Adadelta(model.parameters(), lr=1.0)
        F = lib.nn.functional

        def run(x, y):
            opt.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return run
    out = {"graphc llvm": functools.partial(graphc.compile(step(graphc, qat_model(graphc, init))),
                                            x, y),
           "graphc llvm fp32": functools.partial(
               graphc.compile(step(graphc, _float(graphc, init))), x, y)}
    if not frameworks:
        return out
    try:
        import torch
    except ImportError:
        return {**out, "pytorch eager": None, "pytorch eager fp32": None}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    out["pytorch eager"] = functools.partial(step(torch, qat_model(torch, init)), tx, ty)
    out["pytorch eager fp32"] = functools.partial(step(torch, _float(torch, init)), tx, ty)
    return out


def infer_contenders(batch: int, frameworks: bool = True) -> dict:
    """contender -> a zero-argument forward returning log-probabilities: `graphc llvm` and
    the `int8` ones run converted int8 models, `graphc llvm fp32` the float model."""
    x, _ = data("mnist", batch, seed=3)
    init, cal = weights("mnist"), _calibration()
    out = {"graphc llvm": functools.partial(graphc.compile(int8_model(graphc, init, cal)), x),
           "graphc llvm fp32": functools.partial(graphc.compile(_float(graphc, init).eval()),
                                                 x)}
    if not frameworks:
        return out
    try:
        import torch
    except ImportError:
        return {**out, "pytorch int8": None, "onnxruntime int8": None}
    torch.backends.quantized.engine = "x86"
    tmodel, tx = int8_model(torch, init, cal), torch.from_numpy(x)

    def infer():
        with torch.inference_mode():
            return tmodel(tx)
    out["pytorch int8"] = infer
    out["onnxruntime int8"] = _onnx_qdq(_float(torch, init).eval(), x, cal)
    return out


def _onnx_qdq(tmodel, x, calibration):
    """ONNX Runtime's static QDQ int8 model of the float PyTorch model, or None."""
    try:
        import onnxruntime as ort
        import torch
        from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError:
        return None

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": b} for b in calibration])

        def get_next(self):
            return next(self.batches, None)
    with tempfile.TemporaryDirectory() as d:
        fp32, int8 = os.path.join(d, "fp32.onnx"), os.path.join(d, "int8.onnx")
        buf = io.BytesIO()
        torch.onnx.export(tmodel, (torch.from_numpy(calibration[0]),), buf, dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        with open(fp32, "wb") as f:
            f.write(buf.getvalue())
        quantize_static(fp32, int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sess = ort.InferenceSession(int8, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})[0]
