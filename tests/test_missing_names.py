"""A torch name graphc lacks is a NotSupportedError naming it and the user's line, never a raw
AttributeError or a NumPy error from deeper down."""
import sys

import numpy as np
import pytest

import graphc
from graphc import NotSupportedError


def _line():
    return sys._getframe(1).f_lineno


MISSING = [
    lambda: graphc.nn.Conv3d, lambda: graphc.fft.fft, lambda: graphc.linalg.svd,
    lambda: graphc.nn.functional.conv3d, lambda: graphc.distributions.Normal,
    lambda: graphc.special.xlogy, lambda: graphc.optim.Adafactor, lambda: graphc.jit.script,
    lambda: graphc.tensor([1.0]).stft,
]
NAMES = ["graphc.nn.Conv3d", "graphc.fft.fft", "graphc.linalg.svd",
         "graphc.nn.functional.conv3d", "graphc.distributions.Normal", "graphc.special.xlogy",
         "graphc.optim.Adafactor", "graphc.jit.script", "Tensor.stft"]


@pytest.mark.parametrize("get,name", list(zip(MISSING, NAMES)), ids=NAMES)
def test_missing_name_is_a_clear_error(get, name):
    with pytest.raises(NotSupportedError) as e:
        get()
    msg = str(e.value)
    assert name in msg and "not supported yet" in msg
    assert __file__ in msg            # the user's line (the lambda's line in this file)
    assert isinstance(e.value, graphc.GraphcError) and isinstance(e.value, AttributeError)


def test_points_at_the_users_line():
    with pytest.raises(NotSupportedError) as e:
        line = _line(); graphc.nn.Conv3d(1, 1, 3)  # noqa: E702
    assert f"{__file__}:{line}" in str(e.value)


def test_hasattr_and_getattr_default_keep_working():
    assert not hasattr(graphc.nn, "Conv3d")
    assert getattr(graphc, "no_such_thing", 42) == 42
    assert hasattr(graphc.nn, "Linear") and hasattr(graphc, "relu")
    assert not hasattr(graphc.tensor([1.0]), "stft")


def test_typo_suggests_the_real_name():
    with pytest.raises(NotSupportedError, match="did you mean Linear"):
        graphc.nn.Lienar


def test_stub_namespaces_import():
    import graphc.fft
    import graphc.special as special
    with pytest.raises(NotSupportedError, match="graphc.special.xlogy"):
        special.xlogy(1, 2)
    with pytest.raises(NotSupportedError, match="graphc.fft.rfft"):
        graphc.fft.rfft


def test_private_names_stay_plain_attribute_errors():
    with pytest.raises(AttributeError) as e:
        graphc.nn._no_such
    assert not isinstance(e.value, NotSupportedError)
    t = graphc.tensor([1.0])
    with pytest.raises(AttributeError) as e:
        t.__array_foo__
    assert not isinstance(e.value, NotSupportedError)


def test_existing_names_are_not_shadowed():
    assert graphc.nn.Linear is graphc.nn.layers.Linear
    assert callable(graphc.nn.functional.relu) and callable(graphc.optim.Adam)


def test_tensor_type_call_is_not_a_numpy_or_type_error():
    t = graphc.tensor(np.ones((2, 3), np.float32))   # was "'TensorType' object is not callable"
    assert t.type().endswith("FloatTensor")


def test_numpy_functions_on_tensors_work_as_torch():
    t = graphc.tensor(np.array([[1.0, 2.0]], np.float32))
    np.testing.assert_allclose(np.exp(t), np.exp([[1.0, 2.0]]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(t), [[1.0, 2.0]])
    assert float(np.float32(graphc.tensor(2.0))) == 2.0


def test_numpy_reductions_on_tensors_use_numpy_keywords():
    # np.sum(t) used to call Tensor.sum(axis=..., out=...): "unexpected keyword argument 'axis'"
    t = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert float(np.sum(t)) == 15.0 and float(np.max(t)) == 5.0
    np.testing.assert_allclose(np.mean(t, axis=0), [1.5, 2.5, 3.5])
    assert np.concatenate([t, t]).shape == (4, 3)


def test_numpy_on_a_traced_tensor_is_a_trace_error():
    @graphc.compile
    def f(x):
        return graphc.tensor(np.sum(x))
    with pytest.raises(graphc.TraceError, match="numpy"):
        f(np.ones(3, np.float32))


def test_utils_namespaces():
    with pytest.raises(NotSupportedError, match="graphc.utils.checkpoint.checkpoint"):
        graphc.utils.checkpoint.checkpoint
    with pytest.raises(NotSupportedError, match="graphc.utils.data.NoSuchSampler"):
        graphc.utils.data.NoSuchSampler
    import graphc.utils.tensorboard as tb
    with pytest.raises(NotSupportedError, match="SummaryWriter"):
        tb.SummaryWriter


def test_from_import_keeps_the_message_and_is_an_import_error():
    with pytest.raises(graphc.NotSupportedImportError) as e:
        line = _line(); from graphc.nn import Conv3d  # noqa: E702,F401
    assert "graphc.nn.Conv3d is not supported yet" in str(e.value)
    assert f"{__file__}:{line}" in str(e.value)
    assert isinstance(e.value, ImportError) and isinstance(e.value, graphc.GraphcError)
    try:
        from graphc.special import xlogy  # noqa: F401
    except ImportError:
        pass
    from graphc.nn import Linear  # noqa: F401  (real names import as always)


@pytest.mark.parametrize("stmt", [
    "from graphc.ao.quantization import QConfigMapping",
    "from graphc.ao.quantization.quantize_fx import prepare_fx",
    "from graphc.quantization.quantize_fx import convert_fx",
    "import graphc.ao.quantization.qconfig_mapping as m; m.get_default_qconfig_mapping",
])
def test_fx_graph_mode_quantization_says_eager_mode_only(stmt):
    with pytest.raises(graphc.GraphcError, match="eager mode only"):
        exec(stmt, {})
