"""torch's functions and modules on quantized tensors (graphc/qdispatch.py): F.relu, graphc.relu,
flatten, F.max_pool2d, nn.ReLU/MaxPool2d/Flatten/Dropout(eval) give torch's integers and
parameters; the rest raise NotSupportedError instead of computing on the integers."""
import numpy as np
import pytest

import graphc
from graphc import nn
import graphc.nn.functional as F

torch = pytest.importorskip("torch")

CASES = {
    "F.relu": (lambda L, q: L.nn.functional.relu(q)),
    "relu": (lambda L, q: L.relu(q)),
    "flatten": (lambda L, q: L.flatten(q, 1)),
    "F.max_pool2d": (lambda L, q: L.nn.functional.max_pool2d(q, 2)),
    "F.max_pool2d-3-1-1": (lambda L, q: L.nn.functional.max_pool2d(q, 3, 1, 1)),
    "ReLU": (lambda L, q: L.nn.ReLU()(q)),
    "ReLU-inplace": (lambda L, q: L.nn.ReLU(inplace=True)(q)),
    "MaxPool2d": (lambda L, q: L.nn.MaxPool2d(2, ceil_mode=True)(q)),
    "Flatten": (lambda L, q: L.nn.Flatten()(q)),
    "Dropout-eval": (lambda L, q: L.nn.Dropout(0.5).eval()(q)),
    "F.adaptive_avg_pool2d": (lambda L, q: L.nn.functional.adaptive_avg_pool2d(q, (3, 2))),
    "AdaptiveAvgPool2d": (lambda L, q: L.nn.AdaptiveAvgPool2d(1)(q)),
}


@pytest.mark.parametrize("name", CASES)
def test_function_on_a_quantized_tensor_matches_torch(name):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype(np.float32)
    g = CASES[name](graphc, graphc.quantize_per_tensor(graphc.tensor(x), 0.05, 60, graphc.quint8))
    t = CASES[name](torch, torch.quantize_per_tensor(torch.from_numpy(x), 0.05, 60, torch.quint8))
    assert g.is_quantized and (g.q_scale(), g.q_zero_point()) == (t.q_scale(), t.q_zero_point())
    np.testing.assert_array_equal(g.int_repr().numpy(), t.int_repr().numpy())


def test_functions_without_a_quantized_kernel_refuse():
    q = graphc.quantize_per_tensor(graphc.randn(1, 2, 4, 4), 0.1, 3, graphc.quint8)
    with pytest.raises(graphc.NotSupportedError, match="max_pool1d of a quantized tensor"):
        F.max_pool1d(q.flatten(2), 2)
    with pytest.raises(graphc.NotSupportedError, match="quantized tensor"):
        nn.Dropout(0.5).train()(q)
    with pytest.raises(graphc.NotSupportedError, match="avg_pool2d of a quantized tensor"):
        F.avg_pool2d(q, 2)


def test_cat_of_quantized_tensors_takes_the_first_ones_parameters_as_torch():
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(2))
    g = [graphc.quantize_per_tensor(graphc.tensor(a), 0.05, 60, graphc.quint8),
         graphc.quantize_per_tensor(graphc.tensor(b), 0.03, 100, graphc.quint8)]
    t = [torch.quantize_per_tensor(torch.from_numpy(a), 0.05, 60, torch.quint8),
         torch.quantize_per_tensor(torch.from_numpy(b), 0.03, 100, torch.quint8)]
    with pytest.warns(UserWarning, match="share the same quantization parameters"):
        gc = graphc.cat(g, 1)
    tc = torch.cat(t, 1)
    assert (gc.q_scale(), gc.q_zero_point()) == (tc.q_scale(), tc.q_zero_point())
    np.testing.assert_array_equal(gc.int_repr().numpy(), tc.int_repr().numpy())
    same = graphc.cat([g[0], g[0]], -1)
    np.testing.assert_array_equal(same.int_repr().numpy(),
                                  torch.cat([t[0], t[0]], -1).int_repr().numpy())
