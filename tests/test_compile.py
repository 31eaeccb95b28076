"""graphc.compile with the interpreter backend: calling, caching, output structure, IR and dumps."""
import inspect
import os
from collections import namedtuple

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir import parse, print_graph

RNG = np.random.default_rng(7)
HERE = os.path.basename(__file__)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = graphc.relu(self.fc1(x))
        return self.fc2(h)


def line_of(fn, text: str) -> int:
    """The file line number of the first source line of `fn` containing `text`."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(f"{text!r} not in {fn}")


# ---- compiling functions and modules -------------------------------------------------------------

def test_compile_function_matches_eager():
    def f(x, y):
        return graphc.tanh(x @ y) * 2 + y.sum(0)

    x, y = randn(3, 4), randn(4, 4)
    eager = f(graphc.tensor(x), graphc.tensor(y)).numpy()
    got = graphc.compile(f, backend="interpreter")(x, y)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, np.tanh(x @ y) * 2 + y.sum(0), rtol=1e-5, atol=1e-5)


def test_compile_module_matches_eager_and_torch():
    net = Net()
    x = randn(5, 784)
    got = graphc.compile(net, backend="interpreter")(x)
    assert got.shape == (5, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-6, atol=1e-6)
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    t.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): torch.from_numpy(v.numpy().copy())
                       for k, v in net.state_dict().items()})
    np.testing.assert_allclose(got, t(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_decorator_without_and_with_arguments():
    @graphc.compile
    def plain(x):
        return x * 2

    @graphc.compile(backend="interpreter")
    def configured(x):
        return x * 3

    x = randn(4)
    assert isinstance(plain, graphc.Compiled) and isinstance(configured, graphc.Compiled)
    np.testing.assert_array_equal(plain(x), x * 2)
    np.testing.assert_array_equal(configured(x), x * 3)
    assert plain.__name__ == "plain" and configured.__name__ == "configured"


def test_unknown_backend_is_an_error():
    with pytest.raises(graphc.GraphcError, match="backend"):
        graphc.compile(lambda x: x, backend="tpu")


def test_graphc_tensor_arguments_are_accepted():
    f = graphc.compile(lambda x: x + 1, backend="interpreter")
    np.testing.assert_array_equal(f(graphc.tensor(np.arange(3.0, dtype=np.float32))),
                                  np.arange(1.0, 4.0, dtype=np.float32))


# ---- output structure ----------------------------------------------------------------------------

def test_outputs_keep_their_structure():
    @graphc.compile(backend="interpreter")
    def f(x):
        return {"t": x + 1, "tup": (x * 2, x.sum()), "lst": [x.mean(0)], "n": 3, "none": None}

    x = randn(2, 3)
    out = f(x)
    assert set(out) == {"t", "tup", "lst", "n", "none"}
    np.testing.assert_allclose(out["t"], x + 1)
    assert isinstance(out["tup"], tuple) and len(out["tup"]) == 2
    np.testing.assert_allclose(out["tup"][0], x * 2)
    assert isinstance(out["lst"], list)
    np.testing.assert_allclose(out["lst"][0], x.mean(0), rtol=1e-6)
    assert out["n"] == 3 and out["none"] is None


def test_zero_d_result_is_a_numpy_scalar():
    f = graphc.compile(lambda x: x.sum(), backend="interpreter")
    x = randn(4, 4)
    r = f(x)
    assert type(r) is np.float32
    assert r == pytest.approx(float(x.sum()), rel=1e-5)
    g = graphc.compile(lambda x: x.argmax(), backend="interpreter")
    assert type(g(x)) is np.int64 and g(x) == np.argmax(x)


def test_tuple_and_list_outputs():
    x = randn(3)
    t = graphc.compile(lambda x: (x, -x), backend="interpreter")(x)
    lst = graphc.compile(lambda x: [x, -x], backend="interpreter")(x)
    assert isinstance(t, tuple) and isinstance(lst, list)
    np.testing.assert_array_equal(t[1], -x)
    np.testing.assert_array_equal(lst[1], -x)


def test_nested_inputs_are_flattened_and_named():
    @graphc.compile(backend="interpreter")
    def f(pair, d):
        return pair[0] * pair[1] + d["u"]

    a, b, u = randn(2, 2), randn(2, 2), randn(2, 2)
    np.testing.assert_allclose(f((a, b), {"u": u}), a * b + u, rtol=1e-6)
    head = f.ir().splitlines()[0]
    assert "%pair.0: f32[2,2]" in head and "%pair.1: f32[2,2]" in head and "%d.u: f32[2,2]" in head


# ---- caching per input signature -----------------------------------------------------------------

def test_same_signature_does_not_retrace_new_shape_or_dtype_does():
    traces = []

    @graphc.compile(backend="interpreter")
    def f(x):
        traces.append(x.shape)          # runs only while tracing
        return x * 2

    a = randn(3, 4)
    f(a)
    f(randn(3, 4))
    f(x=randn(3, 4))                    # keywords bind to the same signature
    assert len(traces) == 1 and len(f._cache) == 1
    np.testing.assert_array_equal(f(a), a * 2)
    f(randn(5, 4))                      # new shape
    assert traces == [(3, 4), (5, 4)] and len(f._cache) == 2
    f(randn(3, 4).astype(np.float64))   # same shape, new dtype
    assert len(traces) == 3 and len(f._cache) == 3
    f(randn(5, 4))                      # back to a cached signature
    assert len(traces) == 3


def test_python_scalar_is_baked_in_and_a_new_value_retraces():
    traces = []

    @graphc.compile(backend="interpreter")
    def scale(x, k):
        traces.append(k)
        return x * k

    x = randn(4)
    np.testing.assert_allclose(scale(x, 2.0), x * 2)
    assert "2.0" in scale.ir()
    np.testing.assert_allclose(scale(x, 2.0), x * 2)
    assert traces == [2.0]
    np.testing.assert_allclose(scale(x, 3.0), x * 3)
    assert "3.0" in scale.ir()
    assert traces == [2.0, 3.0] and len(scale._cache) == 2
    assert [v.name for v in scale.graph.inputs] == ["x"]      # k is not a graph input


def test_python_control_flow_on_static_values_is_unrolled():
    @graphc.compile(backend="interpreter")
    def f(x, n, relu):
        for _ in range(n):
            x = x * 2
        if relu:
            x = graphc.relu(x)
        return x

    x = randn(6)
    np.testing.assert_allclose(f(x, 3, True), np.maximum(x * 8, 0))
    np.testing.assert_allclose(f(x, 1, False), x * 2)
    assert f.ir().count("= mul ") == 1


def test_module_parameters_are_read_live_at_each_call():
    net = nn.Linear(3, 2)
    f = graphc.compile(net, backend="interpreter")
    x = randn(4, 3)
    f(x)
    net.weight.data[...] = 0.0
    net.bias.data[...] = 1.5
    np.testing.assert_array_equal(f(x), np.full((4, 2), 1.5, np.float32))
    assert len(f._cache) == 1


# ---- IR text -------------------------------------------------------------------------------------

def test_ir_names_state_inputs_and_user_lines():
    net = Net()
    infer = graphc.compile(net, backend="interpreter")
    with pytest.raises(graphc.GraphcError, match="not been called"):
        infer.ir()
    infer(randn(2, 784))
    text = infer.ir("traced")
    assert text.startswith("graph @Net(%x: f32[2,784]) state(")
    for name, shape in [("fc1.weight", "[128,784]"), ("fc1.bias", "[128]"),
                        ("fc2.weight", "[10,128]"), ("fc2.bias", "[10]")]:
        assert f"%{name}: f32{shape}" in text
    fc1_line = line_of(Net.forward, "self.fc1(x)")
    fc2_line = line_of(Net.forward, "self.fc2(h)")
    matmuls = [ln for ln in text.splitlines() if "= matmul" in ln]
    assert len(matmuls) == 2
    assert matmuls[0].rstrip().endswith(f"# {HERE}:{fc1_line}")
    assert matmuls[1].rstrip().endswith(f"# {HERE}:{fc2_line}")
    assert "%fc1.weight" in matmuls[0] and "%fc2.weight" in matmuls[1]


def test_ir_of_a_function_names_its_arguments_and_globals_modules():
    crit = nn.CrossEntropyLoss()
    net = Net()

    @graphc.compile(backend="interpreter")
    def evaluate(data, target):
        return crit(net(data), target)

    loss = evaluate(randn(4, 784), np.array([1, 2, 3, 4]))
    assert type(loss) is np.float32
    text = evaluate.ir()
    assert text.startswith("graph @evaluate(%data: f32[4,784], %target: i64[4]) state(")
    assert "%fc1.weight: f32[128,784]" in text
    call_line = line_of(evaluate.__wrapped__, "crit(net(data), target)")
    assert f"# {HERE}:{call_line}" in text             # the loss's nodes point at the call


@pytest.mark.parametrize("stage", [None, "traced"])
def test_ir_text_parses_back_exactly(stage):
    net = Net()
    infer = graphc.compile(net, backend="interpreter")
    infer(randn(3, 784))
    text = infer.ir(stage)
    g = parse(text)
    assert print_graph(g) == text
    assert list(g.state) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_parsed_graph_runs_to_the_same_result():
    from graphc.ir.interpreter import run

    net = Net()
    infer = graphc.compile(net, backend="interpreter")
    x = randn(3, 784)
    want = infer(x)
    g = parse(infer.ir())
    (out,), _ = run(g, [x], {k: v.numpy() for k, v in net.state_dict().items()})
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_unknown_stage_is_an_error():
    f = graphc.compile(lambda x: x + 1, backend="interpreter")
    f(randn(2))
    with pytest.raises(graphc.GraphcError, match="traced"):
        f.ir("no-such-stage")


def test_graphc_dump_writes_one_file_per_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))

    @graphc.compile(backend="interpreter")
    def dumped(x):
        return graphc.relu(x) + 1

    dumped(randn(4))
    files = sorted(os.listdir(tmp_path))
    stages = dumped.stages
    assert "traced" in stages
    assert len(files) == len(stages)
    texts = sorted(open(tmp_path / f).read() for f in files)
    assert texts == sorted(dumped.ir(s) for s in stages)
    for s in stages:
        assert sum(s in f for f in files) >= 1
    assert all(f.startswith("dumped") for f in files)
    dumped(randn(4))                                  # cached: nothing new written
    assert len(os.listdir(tmp_path)) == len(files)
    dumped(randn(5))                                  # new signature: a new set of files
    assert len(os.listdir(tmp_path)) == 2 * len(files)


def test_no_dump_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_DUMP", raising=False)
    monkeypatch.chdir(tmp_path)
    graphc.compile(lambda x: x + 1, backend="interpreter")(randn(2))
    assert os.listdir(tmp_path) == []


Pair = namedtuple("Pair", "a b")


def test_namedtuple_output_keeps_its_type():
    f = graphc.compile(lambda x: Pair(x + 1, x * 2), backend="interpreter")
    out = f(randn(2))
    assert isinstance(out, Pair)


def test_namedtuple_argument_keeps_its_type():
    f = graphc.compile(lambda p: p.a + p.b, backend="interpreter")
    a, b = randn(2), randn(2)
    np.testing.assert_allclose(f(Pair(a, b)), a + b)


def test_module_only_guards_follow_train_eval_and_new_attributes():
    """A function whose guards depend on modules only (buffers, no parameters, no optimizer)
    caches its guard key between calls; train()/eval() and attribute changes must still be seen."""
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("k", np.full(3, 2.0, np.float32))

        def forward(self, x):
            return x * self.k if self.training else x + self.k

    for backend in ("interpreter", "llvm"):
        m = Scale()
        f = graphc.compile(m, backend=backend)
        x = np.ones(3, np.float32)
        np.testing.assert_array_equal(f(x), [2, 2, 2])
        m.eval()
        np.testing.assert_array_equal(f(x), [3, 3, 3])
        m.train()
        np.testing.assert_array_equal(f(x), [2, 2, 2])
        m.k = graphc.nn.Buffer(np.full(3, 5.0, np.float32))  # a replaced buffer: retrace
        np.testing.assert_array_equal(f(x), [5, 5, 5])
        m.k._data = np.full(3, 7.0, np.float32)  # a new array in the same buffer: re-bound
        np.testing.assert_array_equal(f(x), [7, 7, 7])
        m.k._data[:] = 1.0                       # written in place: the same array
        np.testing.assert_array_equal(f(x), [1, 1, 1])
        m.k._data = np.zeros(4, np.float32)      # a new array of another shape: refused
        with pytest.raises(graphc.GraphcError):
            f(x)


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_grad_slots_guard_without_optimizer(backend):
    """No optimizer: the guard key is cached between calls, but assigning `.grad` (here: None,
    by hand) must still select the graph that starts a fresh gradient instead of accumulating."""
    graphc.manual_seed(3)
    lin = nn.Linear(3, 1)

    @graphc.compile(backend=backend)
    def step(x):
        loss = (lin(x) ** 2).mean()
        loss.backward()
        return loss

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    step(x)
    one = np.array(lin.weight.grad.data, copy=True)
    step(x)
    np.testing.assert_allclose(lin.weight.grad.data, 2 * one, rtol=1e-6)   # accumulated
    lin.weight.grad = None
    lin.bias.grad = None
    step(x)
    np.testing.assert_allclose(lin.weight.grad.data, one, rtol=1e-6)       # fresh again
