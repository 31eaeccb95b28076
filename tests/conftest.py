"""Shared test helpers: operand specs -> arrays, one-op graphs, NaN-aware bitwise comparison.

Test modules import the helpers directly (`from conftest import make_operand`), which works
because tests/ is not a package (pytest's default "prepend" import mode puts it on sys.path).
"""
from __future__ import annotations

import os

# Most tests check semantics, not code generation: they run on the interpreter unless a test
# asks for a backend. tests/test_llvm*.py run the LLVM backend against the interpreter.
os.environ.setdefault("GRAPHC_BACKEND", "interpreter")

import numpy as np
import pytest

from graphc import dtypes
from graphc.ir import OPS, Builder, Graph, Sample, tensor_type

DOMAINS = ("any", "pos", "unit", "bool", "int:N")


def make_operand(spec, rng: np.random.Generator) -> np.ndarray:
    """Turn a Sample operand spec into an array: an ndarray as is, or (dtype, shape, domain)."""
    if isinstance(spec, np.ndarray):
        return spec
    dtype_name, shape, domain = spec
    dt = dtypes.from_name(dtype_name).np
    shape = tuple(shape)
    if domain == "any":
        x = rng.standard_normal(shape)
    elif domain == "pos":
        x = rng.uniform(0.5, 2.0, shape)
    elif domain == "unit":
        x = rng.uniform(-0.9, 0.9, shape)
    elif domain == "bool":
        x = rng.random(shape) < 0.5
    elif domain.startswith("int:"):
        x = rng.integers(0, int(domain[4:]), shape)
    else:
        raise ValueError(f"unknown operand domain {domain!r} in spec {spec!r}")
    if dt.kind in "iu" and domain in ("any", "pos", "unit"):
        x = np.round(x * 4)  # small integers, both signs for "any"/"unit"
    return np.asarray(x).astype(dt)


def sample_arrays(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    return [make_operand(a, rng) for a in sample.args]


def type_of(a: np.ndarray):
    return tensor_type(a.shape, dtypes.from_numpy(a.dtype))


def build_single_op_graph(op: str, arrays, attrs, loc: str | None = None) -> Graph:
    """A graph `@op_name(%a0, %a1, ...)` holding one `op` node; its results are the outputs."""
    g = Graph(f"{op}_graph")
    vals = [g.add_input(f"a{i}", type_of(a)) for i, a in enumerate(arrays)]
    node = Builder(g, loc).emit_node(op, *vals, **attrs)
    g.outputs.extend(node.outputs)
    return g


def op_cases(ops=None) -> list:
    """pytest params (op name, sample index) for every sample of every op, ids like "add-0"."""
    ops = OPS if ops is None else ops
    return [pytest.param(name, i, id=f"{name}-{i}")
            for name, op in ops.items() for i in range(len(op.samples))]


def assert_bitwise_equal(a, b, what: str = "") -> None:
    """Same dtype, shape and bits; NaNs compare equal to NaNs (payloads aside), -0.0 != 0.0."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if a.dtype.kind == "f":
        na, nb = np.isnan(a), np.isnan(b)
        assert np.array_equal(na, nb), f"{what}: NaNs differ\n{a}\n{b}"
        a, b = np.where(na, 0, a), np.where(nb, 0, b)
    assert a.tobytes() == b.tobytes(), f"{what}: bits differ\n{a!r}\n{b!r}"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
