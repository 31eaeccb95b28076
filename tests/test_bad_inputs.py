"""Bad input at every public entry point: a GraphcError (or the documented behaviour), never a
crash, and parameters, gradients and optimizer state unchanged after any failed call.

Entry points: a compiled training step and a compiled Module (both backends), eager modules and
functions, `graphc.ir.parse` / `verify`, the interpreter, `load_state_dict`, the object cache.
The oracle for "unchanged" is a deep copy of every array the step can touch, taken before the call.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
from graphc import nn, optim
from graphc.errors import GraphcError

BACKENDS = ["llvm", "interpreter"]


class Net(nn.Module):
    def __init__(self, n_in=12, hidden=8, n_out=4):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def make_step(backend: str, opt_cls=optim.Adam, **opt_kw):
    graphc.manual_seed(0)
    net, criterion = Net(), nn.CrossEntropyLoss()
    opt = opt_cls(net.parameters(), lr=1e-2, **opt_kw)

    @graphc.compile(backend=backend)
    def step(x, y):
        opt.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def batch(n=6, n_in=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)).astype(np.float32), rng.integers(0, 4, n)


def snapshot(net, opt) -> dict:
    """Copies of every parameter, gradient and optimizer state array (and the lrs)."""
    snap = {f"param {k}": np.array(v) for k, v in net.state_dict().items()}
    for i, p in enumerate(net.parameters()):
        snap[f"grad {i}"] = None if p.grad is None else np.array(p.grad)
    for i, st_ in enumerate(opt.state.values()):
        for k, v in st_.items():
            snap[f"state {i}.{k}"] = np.array(v)
    snap["lr"] = [g["lr"] for g in opt.param_groups]
    return snap


def assert_unchanged(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for k, a in before.items():
        b = after[k]
        if isinstance(a, np.ndarray):
            assert a.tobytes() == b.tobytes() and a.shape == b.shape, f"{k} changed"
        else:
            assert a == b or (a is None and b is None), f"{k} changed"


@pytest.fixture(params=BACKENDS)
def trained(request):
    """A step that has run twice (Adam's state exists), its net and optimizer."""
    net, opt, step = make_step(request.param)
    x, y = batch()
    step(x, y)
    step(x, y)
    return net, opt, step


def _fails_cleanly(net, opt, call, exc=GraphcError, match=None):
    before = snapshot(net, opt)
    with pytest.raises(exc, match=match):
        call()
    assert_unchanged(before, snapshot(net, opt))


# ---- compiled training step: wrong shapes, dtypes, counts -------------------------------------

BAD_CALLS = {
    "wrong feature count": lambda x, y: ((x[:, :5].copy(), y), {}),
    "wrong label count": lambda x, y: ((x, y[:3].copy()), {}),
    "labels 2-d": lambda x, y: ((x, y[:, None].copy()), {}),
    "data 1-d": lambda x, y: ((x[0].copy(), y), {}),
    "data 3-d": lambda x, y: ((x[None], y), {}),
    "float labels": lambda x, y: ((x, y.astype(np.float32)), {}),
    "float64 data": lambda x, y: ((x.astype(np.float64), y), {}),
    "int data": lambda x, y: ((x.astype(np.int64), y), {}),
    "bool data": lambda x, y: ((x > 0, y), {}),
    "complex data": lambda x, y: ((x.astype(np.complex64), y), {}),
    "object data": lambda x, y: ((x.astype(object), y), {}),
    "string data": lambda x, y: (("data", y), {}),
    "None data": lambda x, y: ((None, y), {}),
    "too few args": lambda x, y: ((x,), {}),
    "too many args": lambda x, y: ((x, y, y), {}),
    "unknown keyword": lambda x, y: ((x, y), {"z": 1}),
    "label out of range": lambda x, y: ((x, np.where(np.arange(len(y)) == 2, 4, y)), {}),
    "negative label": lambda x, y: ((x, np.where(np.arange(len(y)) == 2, -1, y)), {}),
    "label 2**40": lambda x, y: ((x, np.full_like(y, 2**40)), {}),
}


@pytest.mark.parametrize("what", list(BAD_CALLS))
def test_bad_call_to_a_training_step_raises_and_changes_nothing(trained, what):
    net, opt, step = trained
    x, y = batch()
    args, kwargs = BAD_CALLS[what](x, y)
    _fails_cleanly(net, opt, lambda: step(*args, **kwargs))
    step(x, y)  # still works afterwards


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_first_call_leaves_a_fresh_model_untouched(backend):
    net, opt, step = make_step(backend)
    x, y = batch()
    for args in [(x[:, :5].copy(), y), (x, y.astype(np.float32)), (x, np.full_like(y, 9))]:
        _fails_cleanly(net, opt, lambda args=args: step(*args))
    assert not opt.state and all(p.grad is None for p in net.parameters())
    step(x, y)
    assert opt.state


# ---- arrays in unusual layouts ------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["strided", "fortran", "negative-stride", "read-only",
                                    "unaligned", "big-endian"])
def test_input_layouts_give_the_same_result_as_a_plain_array(layout):
    x, y = batch()
    plain_net, _, plain = make_step("llvm")
    want = [float(plain(x, y)) for _ in range(2)]
    net, _, step = make_step("llvm")
    if layout == "strided":
        big = np.zeros((6, 24), np.float32)
        big[:, ::2] = x
        xa = big[:, ::2]
    elif layout == "fortran":
        xa = np.asfortranarray(x)
    elif layout == "negative-stride":
        xa = x[::-1][::-1]
        xa = np.flip(np.flip(x, 0).copy(), 0)
    elif layout == "read-only":
        xa = x.copy()
        xa.flags.writeable = False
    elif layout == "unaligned":
        raw = np.zeros(x.nbytes + 1, np.uint8)
        xa = np.frombuffer(raw[1:].data, np.float32).reshape(x.shape)
        xa[...] = x
    else:
        xa = x.astype(">f4")
    got = [float(step(xa, y)) for _ in range(2)]
    assert got == want
    for a, b in zip(plain_net.parameters(), net.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("what", ["read-only", "wrong shape", "wrong dtype", "fortran", "list"])
def test_bad_parameter_array_is_refused_before_any_update(trained, what):
    """A read-only parameter is refused by the step; a wrong shape or dtype already when assigned
    to `p.data`; a Fortran-ordered array or a list is copied into a C-contiguous array."""
    net, opt, step = trained
    x, y = batch()
    p = net.fc2.weight
    before = snapshot(net, opt)
    if what == "read-only":
        p.numpy().flags.writeable = False
        _fails_cleanly(net, opt, lambda: step(x, y), match="read-only")
        return
    new = {"wrong shape": np.zeros((3, 3), np.float32), "wrong dtype": p.numpy().astype(np.float64),
           "fortran": np.asfortranarray(np.array(p.data)), "list": p.data.tolist()}[what]
    if what.startswith("wrong"):
        with pytest.raises(GraphcError):
            p.data = new
        assert_unchanged(before, snapshot(net, opt))
    else:
        p.data = new
        assert p.numpy().flags.c_contiguous
        assert_unchanged(before, snapshot(net, opt))
    step(x, y)


def test_read_only_optimizer_state_is_refused_before_any_update(trained):
    net, opt, step = trained
    x, y = batch()
    st_ = next(iter(opt.state.values()))
    st_["exp_avg_sq"].numpy().flags.writeable = False if hasattr(st_["exp_avg_sq"], "data") else None
    _fails_cleanly(net, opt, lambda: step(x, y))


@pytest.mark.parametrize("lr", ["fast", None, [1e-3], float("nan")])
def test_bad_learning_rate(trained, lr):
    net, opt, step = trained
    x, y = batch()
    opt.param_groups[0]["lr"] = lr
    if isinstance(lr, float):  # NaN is a number: documented to propagate, like PyTorch
        step(x, y)
        assert np.isnan(net.fc1.weight.data).all()
        return
    before = snapshot(net, opt)
    with pytest.raises(GraphcError, match="lr"):
        step(x, y)
    assert_unchanged(before, snapshot(net, opt))


# ---- values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_in_data_propagate_like_numpy(backend, special):
    """Documented: special values are data, not errors (as in PyTorch); the loss shows them."""
    net = Net()
    x, y = batch()
    x[1, 3] = special
    out = graphc.compile(net, backend=backend)(x)
    ref = graphc.compile(net, backend="interpreter")(x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    assert not np.isfinite(out[1]).all() and np.isfinite(np.delete(out, 1, 0)).all()
    _, _, step = make_step(backend)
    assert not np.isfinite(step(x, y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    """Inference on 0 rows gives 0 rows; a training step on 0 rows gives a NaN loss (the mean of
    nothing, as in PyTorch) and, with SGD, leaves the weights as they were (zero gradient)."""
    net = Net()
    x, y = batch(0)
    out = graphc.compile(net, backend=backend)(x)
    assert out.shape == (0, 4) and out.dtype == np.float32
    net, opt, step = make_step(backend, optim.SGD)
    before = snapshot(net, opt)
    loss = step(x, y)
    assert np.isnan(loss)
    after = snapshot(net, opt)
    for k in before:
        if k.startswith("param"):
            np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def test_element_counts_beyond_32_bits_are_computed_exactly():
    """2**31 + 2**16 elements (more than int32 indexing can count), without allocating them: a
    broadcast reduced inside one fused kernel."""
    rows, cols = 2**15 + 1, 2**16
    f = graphc.compile(lambda a: a.expand(rows, cols).sum(), backend="llvm")
    out = f(np.ones((1, cols), np.float32))
    assert float(out) == float(rows * cols)


def test_huge_shape_that_cannot_be_allocated_is_an_error_not_a_crash():
    code = textwrap.dedent("""
        import numpy as np, graphc
        f = graphc.compile(lambda a, b: a + b, backend="llvm")
        try:
            f(np.ones((1, 2**20), np.float32), np.ones((2**20, 1), np.float32))  # 4 TiB out
        except graphc.ExecutionError as e:
            print("refused:", e)
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "GRAPHC_BACKEND": "llvm"}, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused:" in r.stdout and "memory" in r.stdout, r.stdout


# ---- eager modules, functions and state dicts ---------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: nn.Linear(12, 4)(np.ones((2, 5), np.float32)),
    lambda: nn.Linear(12, 4)(np.ones((2, 12), np.float64)),
    lambda: nn.CrossEntropyLoss()(graphc.tensor(np.ones((2, 3), np.float32)), np.array([0.5, 1])),
    lambda: nn.MSELoss()(graphc.tensor(np.ones((2, 3), np.float32)), np.ones((3, 2), np.float32)),
    lambda: graphc.relu(np.ones(3, np.complex64)),
    lambda: graphc.tensor(np.ones(3, np.float32)).reshape(4),
    lambda: graphc.tensor(np.ones((2, 3), np.float32))[[0, 2]],           # index 2 of 2 rows
    lambda: nn.Dropout(1.5),                                          # p outside [0, 1]
    lambda: nn.functional.dropout(graphc.tensor(np.ones(3, np.float32)), -0.1),
    lambda: nn.functional.dropout(graphc.tensor(np.ones(3, np.int64)), 0.5),
    lambda: graphc.rand(2, device="cuda"),
    lambda: graphc.randint(5, 2, (3,)),
    lambda: Net().load_state_dict({"fc1.weight": np.ones((2, 2))}),
    lambda: Net().load_state_dict({k: np.ones((1,)) for k in Net().state_dict()}),
    lambda: optim.Adam(Net().parameters()).load_state_dict({"param_groups": [], "state": {}}),
    # regressions: these raised ValueError, KeyError or passed silently
    lambda: graphc.tensor([[1.0, 2.0], [3.0]]),                       # ragged
    lambda: graphc.tensor(np.ones(2, np.float32)).to("complex"),     # KeyError
    lambda: graphc.tensor(np.ones(2, np.float32)).to("nope"),        # TypeError
    lambda: graphc.zeros((-1, 3)),                                   # ValueError
    lambda: graphc.zeros((1.5, 3)),                                  # silently 1 row
    lambda: nn.Linear(-3, 4),                                        # ValueError
    lambda: nn.Linear(2.5, 4),
    lambda: optim.Adam(Net().parameters(), lr=-1.0),                 # accepted
    lambda: optim.Adam(Net().parameters(), betas=(1.5, 0.9)),        # accepted
    lambda: optim.SGD(Net().parameters(), lr=0.1, momentum=-0.5),    # accepted
])
def test_eager_bad_inputs_raise_graphc_errors(call):
    with pytest.raises(GraphcError):
        call()


def test_failed_load_state_dict_changes_nothing():
    net = Net()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    sd = {k: np.zeros_like(v) for k, v in before.items()}
    sd["fc2.bias"] = np.zeros(5, np.float32)  # the last one is wrong
    with pytest.raises(GraphcError):
        net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


class Unsupported(nn.Module):
    def forward(self, x):
        return np.sin(x)  # a NumPy function on a traced tensor


class Branchy(nn.Module):
    def forward(self, x):
        while x.sum() > 0:  # data-dependent control flow
            x = x - 1
        return x


class ItemUser(nn.Module):
    def forward(self, x):
        return x * x.max().item()


@pytest.mark.parametrize("module", [Unsupported, Branchy, ItemUser])
@pytest.mark.parametrize("backend", BACKENDS)
def test_unsupported_code_in_a_compiled_module_is_a_trace_error(module, backend):
    f = graphc.compile(module(), backend=backend)
    with pytest.raises(GraphcError):
        f(np.ones((2, 3), np.float32))
    assert not f._cache


def test_compiling_something_that_is_not_callable_is_an_error():
    with pytest.raises(GraphcError):
        graphc.compile(42)


# ---- IR text -------------------------------------------------------------------------------------

GOOD_IR = """graph @g(%x: f32[2,3], %y: i64[2]) state(%w: f32[3,4]) {
  %0: f32[2,4] = matmul %x, %w
  %1: f32[2,4] = tanh %0
  %2: f32[2] = sum[axis=[1], keepdims=false] %1
  %3: f32[] = constant[value=0.5]
  %4: f32[3,4] = mul %w, %3
  return %2 updates(%w <- %4)
}
"""


@settings(max_examples=5000 if os.environ.get("GRAPHC_FUZZ_LONG") == "1" else 300,
          deadline=None, derandomize=os.environ.get("GRAPHC_FUZZ_LONG") != "1",
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD_IR)), st.integers(0, 6),
                          st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF),
                                  max_size=4)), min_size=1, max_size=4))
def test_fuzzed_ir_text_parses_or_raises_a_graphc_error(edits):
    """Random splices of arbitrary characters (control characters, non-ASCII) into valid IR: a
    ParseError/VerifyError, or a graph that prints back to the same text and runs."""
    text = GOOD_IR
    for pos, cut, ins in edits:
        text = text[:pos] + ins + text[pos + cut:]
    try:
        g = graphc.ir.parse(text)
        graphc.ir.verify(g)
    except GraphcError:
        return
    assert graphc.ir.print_graph(graphc.ir.parse(graphc.ir.print_graph(g))) == \
        graphc.ir.print_graph(g)
    from golden_util import random_args

    from graphc.ir.interpreter import run
    inputs, state = random_args(g, np.random.default_rng(0))
    try:
        run(g, inputs, state)
    except GraphcError:
        pass


@pytest.mark.parametrize("text", [
    "", "\0", "graph", "graph @g(", "graph @g() {\n}", "graph @g() {\n  return\n}",
    GOOD_IR.replace("f32[2,3]", "f32[2,-3]"), GOOD_IR.replace("f32[2,3]", "f32[99999999999999999999,3]"),
    GOOD_IR.replace("value=0.5", "value=nan"), GOOD_IR.replace("value=0.5", "value=1e999"),
    GOOD_IR.replace("[1]", "[7]"), GOOD_IR.replace("[1]", "[1,1]"),
    GOOD_IR.replace("matmul", "matmul[transpose_b=2]"), GOOD_IR.replace("%w <- %4", "%w <- %2"),
    GOOD_IR.replace("%w <- %4", "%q <- %4"), GOOD_IR * 2, GOOD_IR.replace("%0", "%1", 1),
    GOOD_IR[: len(GOOD_IR) // 2],
])
def test_malformed_ir_text_raises_a_graphc_error(text):
    try:
        g = graphc.ir.parse(text)
        graphc.ir.verify(g)
    except GraphcError:
        return
    # accepted: then it must be a well-formed graph (nan/inf constants are valid IR)
    assert graphc.ir.print_graph(graphc.ir.parse(graphc.ir.print_graph(g))) == \
        graphc.ir.print_graph(g)


@pytest.mark.parametrize("bad", [
    lambda g: [np.ones((2, 3), np.float32)],                     # missing input
    lambda g: [np.ones((3, 3), np.float32), np.zeros(2, np.int64)],  # wrong shape
    lambda g: [np.ones((2, 3), np.float64), np.zeros(2, np.int64)],  # wrong dtype
])
def test_interpreter_checks_its_inputs(bad):
    from graphc.ir.interpreter import run
    g = graphc.ir.parse(GOOD_IR)
    with pytest.raises(GraphcError):
        run(g, bad(g), {"w": np.ones((3, 4), np.float32)})
    with pytest.raises(GraphcError):
        run(g, [np.ones((2, 3), np.float32), np.zeros(2, np.int64)], {})  # missing state


# ---- the object cache ----------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["directory", "symlink-loop", "unreadable"])
def test_cache_entry_that_cannot_be_read_is_rebuilt(tmp_path, monkeypatch, damage):
    from graphc.backend.llvm import cache
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    tag = 1.0 + ["directory", "symlink-loop", "unreadable"].index(damage) / 64 + 1 / 8192
    f = graphc.compile(lambda a: graphc.exp(a * tag), backend="llvm")
    x = np.linspace(0, 1, 5, dtype=np.float32)
    f(x)
    objs = list(tmp_path.rglob("*.o"))   # the entry's object and each kernel's
    assert objs
    for obj in objs:
        obj.unlink()
        if damage == "directory":
            obj.mkdir()
        elif damage == "symlink-loop":
            obj.symlink_to(obj)
        else:
            obj.write_bytes(b"x")
            obj.chmod(0)
    cache.clear_memory()
    g = graphc.compile(lambda a: graphc.exp(a * tag), backend="llvm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a directory there cannot be replaced
        np.testing.assert_allclose(g(x), np.exp(x * np.float32(tag)), rtol=1e-6)
    cache.clear_memory()


@pytest.mark.parametrize("value", ["", "0", "off"])
def test_cache_can_be_turned_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", value)
    f = graphc.compile(lambda a: a * 3.0 + 0.0001220703125, backend="llvm")
    np.testing.assert_allclose(f(np.ones(3, np.float32)), 3.0001220703125)
    assert list(tmp_path.rglob("*")) == []


def test_np_array_of_a_tensor_is_a_copy_and_np_asarray_shares():
    """Regression: Tensor.__array__ ignored copy=True, so `saved = np.array(p.grad)` (or of an
    optimizer buffer) aliased the live array and changed with the next step."""
    net, opt, step = make_step("llvm")
    x, y = batch()
    step(x, y)
    step(x, y)
    saved = np.array(net.fc1.weight.grad)
    buf = next(iter(opt.state.values()))["exp_avg"]
    saved_buf = np.array(buf)
    assert np.shares_memory(np.asarray(buf), buf._data)
    step(*batch(seed=1))
    assert not np.array_equal(saved, np.asarray(net.fc1.weight.grad))
    assert not np.array_equal(saved_buf, np.asarray(buf))
    with pytest.raises(ValueError):
        np.array(graphc.tensor(np.ones(2, np.float32)), dtype=np.float64, copy=False)


@pytest.mark.parametrize("view", ["whole", "rows"])
def test_input_that_is_a_parameter_updated_in_place(view):
    """Regression: passing a parameter's own array as data (larger than the runtime's small-input
    buffers) let the native Adam update, fused into the weight-gradient matmul, overwrite the input
    while it was still being read. The call must see the value from before the call: the same
    bits as passing a copy."""
    def setup():
        graphc.manual_seed(0)
        lin = nn.Linear(784, 128)
        opt = optim.Adam(lin.parameters(), lr=0.1)

        @graphc.compile(backend="llvm")
        def step(x):
            opt.zero_grad()
            loss = (lin(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return lin, step

    x0 = np.random.default_rng(0).standard_normal((128, 784)).astype(np.float32)
    results = []
    for alias in (False, True):
        lin, step = setup()
        step(x0)
        step(x0)
        losses = []
        for _ in range(3):
            w = lin.weight.numpy() if view == "whole" else lin.weight.numpy()[:64]
            losses.append(float(step(w if alias else w.copy())))
        results.append((losses, lin.weight.numpy().copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("cmd", ["dump", "bisect"])
def test_cli_with_a_missing_script_says_so(cmd, tmp_path):
    """Regression: `python -m graphc bisect missing.py` ended in a FileNotFoundError traceback."""
    r = subprocess.run([sys.executable, "-m", "graphc", cmd, str(tmp_path / "missing.py")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and "no such script" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_replaced_parameter_or_layer_is_used_after_compile(backend):
    """Regression: assigning a new Parameter (or a new layer) to a module after it was compiled
    was silently ignored: the compiled code kept reading the old arrays. It now retraces."""
    graphc.manual_seed(0)
    net = Net()
    infer = graphc.compile(net, backend=backend)
    x = batch()[0]
    infer(x)
    net.fc2.bias = nn.Parameter(np.full(4, 100.0, np.float32))
    np.testing.assert_allclose(infer(x), graphc.compile(net, backend="interpreter")(x), rtol=1e-6)
    assert infer(x).min() > 50
    net.fc2 = nn.Linear(8, 4)
    np.testing.assert_allclose(infer(x), graphc.compile(net, backend="interpreter")(x), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_step_follows_a_replaced_layer_and_optimizer(backend):
    def setup():
        graphc.manual_seed(0)
        net, crit = Net(), nn.CrossEntropyLoss()
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss

        def swap():
            nonlocal opt
            net.fc2 = nn.Linear(8, 4)
            opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        return net, graphc.compile(step, backend=backend), swap

    x, y = batch()
    net_a, step_a, swap_a = setup()
    for _ in range(3):
        step_a(x, y)
    graphc.manual_seed(1)
    swap_a()                       # after compiling and running: must be picked up
    losses_a = [float(step_a(x, y)) for _ in range(3)]
    net_b, step_b, swap_b = setup()
    for _ in range(3):
        step_b(x, y)
    graphc.manual_seed(1)
    swap_b()
    step_b = graphc.compile(step_b.fn, backend=backend)  # a fresh compile as the oracle
    losses_b = [float(step_b(x, y)) for _ in range(3)]
    assert losses_a == losses_b
    for (k, a), b in zip(net_a.state_dict().items(), net_b.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
