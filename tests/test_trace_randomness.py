"""Python's random and NumPy's random functions called while tracing are drawn once and baked
into the graph: graphc warns at the user's line with the in-graph alternative, and only then."""
import random
import sys
import warnings

import numpy as np
import pytest

import graphc
from graphc import TraceTimeRandomnessWarning, nn


def _compiled(body):
    """A compiled function whose body (one line) is `body`, defined in this file."""
    g = {"random": random, "np": np, "graphc": graphc, "rng": np.random.default_rng(0)}
    src = f"def step(x):\n    k = {body}\n    return x * 2\n"
    exec(compile(src, __file__, "exec"), g)
    return graphc.compile(g["step"])


@pytest.mark.parametrize("body,hint,line", [
    ("random.randint(1, 4)", "graphc.randint", 2),
    ("random.random()", "graphc.rand", 2),
    ("random.uniform(0, 1)", "graphc.rand", 2),
    ("random.gauss(0, 1)", "graphc.randn", 2),
    ("random.choice([1, 2])", "graphc.randint", 2),
    ("np.random.rand(3)", "graphc.rand", 2),
    ("np.random.randint(0, 3)", "graphc.randint", 2),
    ("np.random.permutation(5)", "graphc.randperm", 2),
    # a Generator's Cython methods cannot be hooked: its state is compared after the trace, and
    # the warning names it and the traced function's `def` line
    ("rng.integers(0, 4)", "'rng'", 1),
    ("rng.normal()", "graphc.randn", 1),
])
def test_warns_at_the_users_line(body, hint, line):
    f = _compiled(body)
    with pytest.warns(TraceTimeRandomnessWarning) as rec:
        f(np.ones(2, np.float32))
    w = [r for r in rec if issubclass(r.category, TraceTimeRandomnessWarning)]
    assert len(w) == 1
    assert w[0].filename == __file__ and w[0].lineno == line   # `k = ...`: line 2 of the step
    assert hint in str(w[0].message) and "baked into the compiled graph" in str(w[0].message)


def test_forward_depth_drawn_once_warns():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            for _ in range(random.randint(1, 3)):  # the line the warning names
                x = self.fc(x)
            return x
    line = Net.forward.__code__.co_firstlineno + 1
    net = Net()
    with pytest.warns(TraceTimeRandomnessWarning) as rec:
        graphc.compile(net)(np.ones((1, 3), np.float32))
    assert any(r.lineno == line and r.filename == __file__ for r in rec)


def test_no_warning_outside_tracing_or_on_later_calls():
    f = _compiled("1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        random.randint(1, 4); np.random.rand(2); np.random.default_rng(0).integers(3)  # noqa: E702
        f(np.ones(2, np.float32))
        f(np.ones(2, np.float32))
    assert sys.getprofile() is None   # the hook is gone after the trace


def test_graphc_random_does_not_warn():
    f = graphc.compile(lambda x: x * 2 + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(np.ones(2, np.float32))


def test_an_existing_profiler_is_left_alone():
    seen = []
    prof = lambda frame, event, arg: seen.append(event)  # noqa: E731
    f = _compiled("random.randint(1, 4)")
    sys.setprofile(prof)
    try:
        f(np.ones(2, np.float32))
    finally:
        sys.setprofile(None)
    assert seen
