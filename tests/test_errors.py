"""Every error graphc raises on purpose: its GraphcError subclass and an actionable message that
names the op, the shapes and the user's file:line (this file)."""
import os
import sys

import numpy as np
import pytest

import graphc
from graphc import nn
import graphc.nn.functional as F

HERE = os.path.basename(__file__)


def next_line() -> int:
    """The caller's next source line: the line of the statement that is expected to fail."""
    return sys._getframe(1).f_lineno + 1


def raises_at(exc_type, line, *fragments):
    """Context manager: `exc_type` is raised and its message holds HERE:line and every fragment."""
    class _Check:
        def __enter__(self):
            self.cm = pytest.raises(exc_type)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.cm.__exit__(*exc)
            msg = str(self.info.value)
            assert f"{HERE}:{line}" in msg, msg
            for frag in fragments:
                assert frag in msg, (frag, msg)
            return handled
    return _Check()


def x32(*shape):
    return np.ones(shape, np.float32)


# ---- shapes and dtypes at trace time -------------------------------------------------------------

def test_linear_in_features_mismatch_compiled():
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))

    def step(x):
        line[0] = next_line()
        return net(x)
    line = [0]
    compiled = graphc.compile(step, backend="interpreter")
    with pytest.raises(graphc.ShapeError) as info:
        compiled(x32(8, 783))
    msg = str(info.value)
    assert "783" in msg and "784" in msg and "linear" in msg and "f32[8,783]" in msg
    assert HERE in msg


def test_linear_in_features_mismatch_names_the_users_line():
    lin = nn.Linear(784, 10)

    def step(x):
        line[0] = next_line()
        return lin(x)
    line = [0]
    with pytest.raises(graphc.ShapeError) as info:
        graphc.compile(step, backend="interpreter")(x32(2, 783))
    assert f"{HERE}:{line[0]}" in str(info.value)
    with raises_at(graphc.ShapeError, next_line(), "783", "784"):   # eagerly too
        lin(x32(2, 783))


def test_failed_trace_leaves_no_cache_entry_and_a_good_call_still_works():
    lin = nn.Linear(4, 2)
    f = graphc.compile(lin, backend="interpreter")
    with pytest.raises(graphc.ShapeError):
        f(x32(3, 5))
    assert len(f._cache) == 0
    assert f(x32(3, 4)).shape == (3, 2)


def test_broadcast_mismatch_names_op_and_shapes():
    def f(a, b):
        line[0] = next_line()
        return a + b
    line = [0]
    with pytest.raises(graphc.ShapeError) as info:
        graphc.compile(f, backend="interpreter")(x32(3, 4), x32(5))
    msg = str(info.value)
    assert "add" in msg and "[3, 4]" in msg and "[5]" in msg and f"{HERE}:{line[0]}" in msg


def test_matmul_inner_dimension_mismatch():
    with raises_at(graphc.ShapeError, next_line(), "matmul", "f32[3,4]", "f32[5,2]"):
        graphc.compile(lambda a, b: a @ b, backend="interpreter")(x32(3, 4), x32(5, 2))


def test_bad_reshape():
    with raises_at(graphc.ShapeError, next_line(), "reshape", "f32[3,4]", "12"):
        graphc.compile(lambda a: a.reshape(5, -1), backend="interpreter")(x32(3, 4))


def test_index_out_of_range_at_trace_time():
    with raises_at(graphc.ShapeError, next_line(), "index 3", "size 3"):
        graphc.compile(lambda a: a[3], backend="interpreter")(x32(3, 4))


def test_float_tensor_index_names_the_index_dtypes():
    with raises_at(graphc.ShapeError, next_line(), "long, int, byte or bool"):
        graphc.compile(lambda a, i: a[i], backend="interpreter")(x32(3, 4), np.array([0.0, 1]))


def test_float64_input_into_float32_linear():
    lin = nn.Linear(4, 2)
    # a compiled Module's forward is graphc's code: the user's frame is the call
    with raises_at(graphc.ShapeError, next_line(), "f64", "f32", "linear"):
        graphc.compile(lin, backend="interpreter")(np.ones((3, 4), np.float64))
    with raises_at(graphc.ShapeError, next_line(), "f64", "f32"):
        lin(np.ones((3, 4), np.float64))


def test_float_class_labels_into_cross_entropy():
    crit = nn.CrossEntropyLoss()

    def step(logits, target):
        line[0] = next_line()
        return crit(logits, target)
    line = [0]
    with pytest.raises(graphc.ShapeError) as info:
        graphc.compile(step, backend="interpreter")(x32(4, 10), np.arange(4, dtype=np.float32))
    msg = str(info.value)
    assert "cross_entropy" in msg and "int64" in msg and "f32[4]" in msg and "f32[4,10]" in msg
    assert f"{HERE}:{line[0]}" in msg


def test_wrong_label_shape_into_nll_loss():
    with raises_at(graphc.ShapeError, next_line(), "nll_loss", "i64[5]", "f32[4,10]"):
        F.nll_loss(graphc.tensor(x32(4, 10)), graphc.tensor(np.zeros(5, np.int64)))


def test_where_needs_a_bool_condition():
    with raises_at(graphc.ShapeError, next_line(), "where", "bool", "f32"):
        graphc.compile(lambda a: graphc.where(a, a, 0.0), backend="interpreter")(x32(3))


# ---- a traced value used where Python needs a value ----------------------------------------------

CONTROL_FLOW = {
    "bool": lambda t: 1 if t.sum() > 0 else 0,
    "float": lambda t: float(t.sum()),
    "int": lambda t: int(t.sum()),
    "index": lambda t: [1, 2, 3][t.sum().long()],
    "item": lambda t: t.sum().item(),
    "numpy": lambda t: t.numpy(),
}


@pytest.mark.parametrize("what", list(CONTROL_FLOW))
def test_traced_tensor_as_python_value_explains_unrolling(what):
    use = CONTROL_FLOW[what]

    def step(x):
        return use(x * 2)          # the failing use happens inside `use`, defined in this file

    with pytest.raises(graphc.TraceError) as info:
        graphc.compile(step, backend="interpreter")(x32(3))
    msg = str(info.value)
    assert "unrolling Python control flow" in msg
    assert "graphc.where" in msg
    assert f"{HERE}:{use.__code__.co_firstlineno}" in msg
    assert "f32" in msg or "i64" in msg or "bool" in msg   # the traced value's type


def test_if_on_a_loss_points_at_the_if_line():
    crit = nn.MSELoss()

    def step(x, y):
        loss = crit(x, y)
        line[0] = next_line()
        if loss > 0:
            return loss
        return -loss
    line = [0]
    with pytest.raises(graphc.TraceError) as info:
        graphc.compile(step, backend="interpreter")(x32(3), x32(3))
    msg = str(info.value)
    assert f"{HERE}:{line[0]}" in msg and "bool[]" in msg and "graphc.where" in msg


def test_the_same_code_runs_eagerly():
    t = graphc.tensor(x32(3))
    assert (1 if t.sum() > 0 else 0) == 1
    assert float(t.sum()) == 3.0 and int(t.sum()) == 3 and t.sum().item() == 3.0


def test_traced_tensor_escaping_its_function():
    kept = []

    def leak(a):
        kept.append(a * 2)
        return a

    # a traced tensor stored where it cannot be written back is refused at the first call,
    # naming the place, and nothing dead is left behind
    with pytest.raises(graphc.TraceError, match=r"kept\[0\]"):
        graphc.compile(leak, backend="interpreter")(x32(3))
    assert all(not t.is_traced for t in kept)


# ---- bad arguments to a compiled function --------------------------------------------------------

def test_wrong_number_of_arguments():
    def step(data, target):
        return data + target

    f = graphc.compile(step, backend="interpreter")
    with pytest.raises(graphc.InputError, match=r"step\(data, target\).*missing.*target"):
        f(x32(3))
    with pytest.raises(graphc.InputError, match="too many"):
        f(x32(3), x32(3), x32(3))
    with pytest.raises(graphc.InputError, match="unexpected keyword"):
        f(x32(3), x32(3), lr=0.1)
    assert len(f._cache) == 0


def test_wrong_number_of_arguments_names_the_call_line():
    f = graphc.compile(lambda data, target: data + target, backend="interpreter")
    with raises_at(graphc.InputError, next_line()):
        f(x32(3))


@pytest.mark.parametrize("bad,kind", [("a string", "str"), (object(), "object"),
                                      (np.array(["a", "b"]), "<U1"),
                                      (np.ones(2, np.complex64), "complex64"),
                                      ([x32(2), {1, 2}], "set")])
def test_unsupported_python_values_as_inputs(bad, kind):
    f = graphc.compile(lambda x, y: x * 2, backend="interpreter")
    with pytest.raises(graphc.InputError) as info:
        f(x32(2), bad)
    msg = str(info.value)
    assert "y" in msg and kind in msg
    assert len(f._cache) == 0


def test_unsupported_return_value():
    with pytest.raises(graphc.TraceError, match="returned a object"):
        graphc.compile(lambda x: object(), backend="interpreter")(x32(2))


# ---- IR parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,where,what", [
    ("grph @g(%x: f32[2]) {\n  return %x\n}", "line 1, column 1", "graph"),
    ("graph @g(%x: f33[2]) {\n  return %x\n}", "line 1, column 14", "f33"),
    ("graph @g(%x: f32[2]) {\n  %0: f32[2] = foo %x\n  return %0\n}", "line 2, column 16", "foo"),
    ("graph @g(%x: f32[2]) {\n  %0: f32[2] = neg %y\n  return %0\n}", "line 2, column 20", "%y"),
])
def test_malformed_ir_gives_line_and_column(text, where, what):
    with pytest.raises(graphc.ParseError) as info:
        graphc.ir.parse(text)
    msg = str(info.value)
    assert where in msg and what in msg


def test_ir_with_wrong_declared_type_is_rejected():
    text = "graph @g(%x: f32[2]) {\n  %0: f32[3] = neg %x\n  return %0\n}"
    with pytest.raises(graphc.ParseError) as info:
        graphc.ir.parse(text)
    msg = str(info.value)
    assert "line 2" in msg and "neg" in msg and "f32[3]" in msg and "f32[2]" in msg


# ---- run-time failures ---------------------------------------------------------------------------

def test_out_of_range_gather_index_at_run_time():
    def pick(x, i):
        line[0] = next_line()
        return graphc.gather(x, 1, i)
    line = [0]
    f = graphc.compile(pick, backend="interpreter")
    np.testing.assert_array_equal(f(x32(2, 3), np.array([0, 2])), [1.0, 1.0])
    with pytest.raises(graphc.ExecutionError) as info:
        f(x32(2, 3), np.array([0, 5]))         # same signature: fails when run, not traced
    msg = str(info.value)
    assert "gather" in msg and "5" in msg and f"{HERE}:{line[0]}" in msg
    assert "float32[2, 3]" in msg and "int64[2]" in msg
    assert not isinstance(info.value, IndexError)
    assert info.value.__cause__ is None and info.value.__suppress_context__   # no bare NumPy trace


def test_out_of_range_class_label_in_cross_entropy_at_run_time():
    crit = nn.CrossEntropyLoss()
    f = graphc.compile(lambda logits, y: crit(logits, y), backend="interpreter")
    f(x32(2, 3), np.array([0, 2]))
    with pytest.raises(graphc.ExecutionError, match="xent.*index 3 is out of range"):
        f(x32(2, 3), np.array([0, 3]))


def test_out_of_range_gather_eagerly():
    with raises_at(graphc.ExecutionError, next_line(), "gather"):
        graphc.gather(graphc.tensor(x32(2, 3)), 1, np.array([7, 0]))


def test_errors_are_graphc_error_subclasses():
    for cls in (graphc.ShapeError, graphc.TraceError, graphc.InputError, graphc.ParseError,
                graphc.VerifyError, graphc.ExecutionError):
        assert issubclass(cls, graphc.GraphcError)
    assert issubclass(graphc.ShapeError, ValueError) and issubclass(graphc.InputError, TypeError)


def test_negative_class_label_is_an_error_like_torch():
    crit = nn.CrossEntropyLoss()
    f = graphc.compile(lambda logits, y: crit(logits, y), backend="interpreter")
    with pytest.raises(graphc.ExecutionError, match="xent.*index -1"):
        f(x32(2, 3), np.array([0, -1]))
