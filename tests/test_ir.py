"""The IR layer: print -> parse -> print round trips, deterministic printing, verifier and parser
negative tests, networkx/DOT exports, and the interpreter's ownership of its results."""
from __future__ import annotations

import math
import re
import shutil
import subprocess

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc
from graphc import dtypes
from graphc.ir.interpreter import run
from graphc.ir import (NONDIFF, OPS, Builder, Graph, Node, OpDef, Value, parse, print_graph,
                       tensor_type, to_dot, to_networkx, verify)

from conftest import assert_bitwise_equal, build_single_op_graph, op_cases, sample_arrays

inf, nan = math.inf, math.nan


def T(shape, dt="f32"):
    return tensor_type(shape, dt)


def roundtrip(g: Graph) -> Graph:
    """Print, parse, print again: the text must come back unchanged; return the parsed graph."""
    text = print_graph(g)
    g2 = parse(text)
    assert str(g2) == text
    verify(g2)
    return g2


def assert_same_results(g1: Graph, g2: Graph, inputs, state=None):
    o1, u1 = run(g1, inputs, state)
    o2, u2 = run(g2, inputs, state)
    assert len(o1) == len(o2) and u1.keys() == u2.keys()
    for j, (a, b) in enumerate(zip(o1, o2)):
        assert_bitwise_equal(a, b, f"output {j}")
    for k in u1:
        assert_bitwise_equal(u1[k], u2[k], f"update {k}")


# ---- the example graphs -------------------------------------------------------------------------


def train_step_graph() -> Graph:
    """A multi-node graph with state, updates, locs, several outputs and special constants."""
    g = Graph("train_step")
    x = g.add_input("x", T((2, 3)))
    y = g.add_input("y", T((2,), "i64"))
    w = g.add_state("fc.weight", T((4, 3)))
    bias = g.add_state("fc.bias", T((4,)))
    step = g.add_state("step", T((), "i64"))
    b = Builder(g, loc="model.py:12")
    h = b.add(b.matmul(x, w, transpose_b=True), bias)                       # f32[2,4]
    h = b.maximum(h, 0.0, loc="model.py:13")                                 # relu, weak const
    picked = b.gather(h, y, axis=1)
    hot = b.one_hot(y, num_classes=4, dtype=dtypes.float32)
    loss = b.sum(b.mul(h, hot), axis=None, keepdims=False)
    peak = b.max(h, axis=(1,), keepdims=True)
    best = b.argmax(h, axis=1, keepdims=False, loc=None)
    wide = b.cast(x, dtype=dtypes.float64)
    # special constants, scalar and array, in several dtypes
    specials64 = b.const([0.1, 1e-30, inf, -inf, nan, -0.0, 5e-324, 1.7976931348623157e308],
                         "f64", loc="consts.py:3")
    specials32 = b.const([0.1, 1e-30, inf, -inf, nan, -0.0, 1e-45, 3.4028235e38], "f32")
    mixed = b.add(b.sum(wide, axis=None), specials64)                         # f64[8]
    scaled = b.mul(specials32, b.const(1e-30, "f32"))
    sign_zero = b.div(b.const(1.0, "f32"), b.const(-0.0, "f32"))              # -inf
    nan_s = b.add(b.const(nan, "f64"), b.const(inf, "f64"))
    ints = b.add(b.const([2**62, -2**63, 0, 7], "i64"), b.const(-1, "i64"))
    small = b.add(b.const([255, 0, 7], "u8"), b.const([1, 2, 3], "u8"))     # wraps: 255 + 1
    small = b.cast(b.neg(b.cast(small, dtype=dtypes.int8)), dtype=dtypes.int64)
    flags = b.emit("and", b.const([True, False, True], "bool"), b.const(True, "bool"))
    empty = b.const(np.zeros((0, 3), np.float32), "f32")
    shaped = b.pad(b.slice(b.reshape(b.transpose(x, perm=(1, 0)), shape=(6,)),
                           start=(1,), stop=(6,), step=(2,)),
                   lo=(1,), hi=(2,), interior=(1,))
    chosen = b.where(b.gt(picked, 0.5), picked, b.neg(picked))
    # state updates: an SGD-like rule, a bias shift, a step counter
    new_w = b.sub(w, b.mul(w, 0.1), loc="optim.py:7")
    g.outputs = [loss, peak, best, mixed, scaled, sign_zero, nan_s, ints, small, flags, empty,
                 shaped, chosen]
    g.updates = {"fc.weight": new_w, "fc.bias": b.add(bias, 1.0), "step": b.add(step, 1)}
    return g


def train_step_arrays(rng):
    inputs = [rng.standard_normal((2, 3)).astype(np.float32), np.array([3, 0])]
    state = {"fc.weight": rng.standard_normal((4, 3)).astype(np.float32),
             "fc.bias": rng.standard_normal(4).astype(np.float32),
             "step": np.array(5, np.int64)}
    return inputs, state


# ---- print -> parse -> print --------------------------------------------------------------------


@pytest.mark.parametrize("name, i", op_cases())
def test_roundtrip_single_op_sample(name, i, rng):
    sample = OPS[name].samples[i]
    arrays = sample_arrays(sample, rng)
    g = build_single_op_graph(name, arrays, sample.attrs, loc=f"{name}.py:{i + 1}")
    g2 = roundtrip(g)
    assert_same_results(g, g2, arrays)


def test_roundtrip_train_step_graph(rng):
    g = verify(train_step_graph())
    text = print_graph(g)
    g2 = roundtrip(g)
    assert [n.op for n in g2.nodes] == [n.op for n in g.nodes]
    assert [n.loc for n in g2.nodes] == [n.loc for n in g.nodes]
    assert list(g2.state) == ["fc.weight", "fc.bias", "step"]
    assert list(g2.updates) == ["fc.weight", "fc.bias", "step"]
    assert len(g2.outputs) == 13
    # the text shows what the design promises
    assert text.startswith("graph @train_step(%x: f32[2,3], %y: i64[2]) state(%fc.weight: f32[4,3],"
                           " %fc.bias: f32[4], %step: i64[]) {\n")
    assert "matmul[transpose_b=true] %x, %fc.weight" in text
    assert "# model.py:12" in text and "# consts.py:3" in text and "# optim.py:7" in text
    assert "updates(%fc.weight <- %" in text
    assert "value=[0.1, 1e-30, inf, -inf, nan, -0.0, 5e-324, 1.7976931348623157e+308]" in text
    inputs, state = train_step_arrays(rng)
    assert_same_results(g, g2, inputs, state)


def test_train_step_special_values_survive(rng):
    g2 = parse(print_graph(train_step_graph()))
    inputs, state = train_step_arrays(rng)
    outs, ups = run(g2, inputs, state)
    scaled, sign_zero, nan_s, ints = outs[4], outs[5], outs[6], outs[7]
    assert np.isneginf(sign_zero)
    assert np.isnan(nan_s)
    np.testing.assert_array_equal(ints, [2**62 - 1, np.iinfo(np.int64).max, -1, 6])
    assert scaled[0] == np.float32(0.1) * np.float32(1e-30) and scaled[1] == 0  # underflow
    np.testing.assert_array_equal(outs[8], [0, -2, -10])
    assert outs[10].shape == (0, 3) and outs[10].dtype == np.float32
    assert ups["step"] == 6 and ups["step"].dtype == np.int64


def _probe_op(monkeypatch):
    """A test-only op that accepts any attributes, so every attribute kind can go through the
    printer, parser, verifier and interpreter (no real op takes a float or string attribute)."""
    op = OpDef("attr_probe", "special", lambda types, attrs: types[0],
               lambda x, **attrs: x.copy(), [], NONDIFF)
    monkeypatch.setitem(OPS, "attr_probe", op)


ATTRS = {
    "i": 7, "neg": -3, "big": 2**62, "zero": 0,
    "f": 0.1, "tiny": 1e-30, "pinf": inf, "ninf": -inf, "fnan": nan, "nzero": -0.0,
    "whole": 2.0, "huge": 1e16,
    "t": True, "fls": False, "none": None,
    "tup": (1, 2, 3), "empty": (), "nested": ((1, 2), (3,), ()), "mixed": (1, 2.5, True, None, "s"),
    "dt": dtypes.float32, "dtb": dtypes.bool_, "dti": dtypes.int64,
    "s": "hello world", "quote": 'say "hi" \\ # not a comment', "uni": "na\u00efve \u2192 \u00e9",
    "nl": "two\nlines\ttab",
    "arr": np.array([[0.1, -0.0], [nan, -inf]], np.float32),
    "arr64": np.array([1e-300, 2.5], np.float64),
    "iarr": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
    "barr": np.array([True, False]),
    "scalar_arr": np.array(3, np.uint8),
    "empty_arr": np.zeros((0, 2), np.int8),
}


def same_attr(a, b) -> bool:
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        assert_bitwise_equal(a, b)
        return True
    if isinstance(a, (tuple, list)):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same_attr, a, b))
    if isinstance(a, float):
        return isinstance(b, float) and (math.isnan(a) and math.isnan(b) or
                                         (a == b and math.copysign(1, a) == math.copysign(1, b)))
    return type(a) is type(b) and a == b if not isinstance(a, dtypes.DType) else a is b


def test_roundtrip_every_attribute_kind(monkeypatch, rng):
    _probe_op(monkeypatch)
    g = Graph("attrs")
    x = g.add_input("x", T((2,)))
    node = Builder(g, loc="attrs.py:1").emit_node("attr_probe", x, **ATTRS)
    g.outputs.append(node.out)
    text = print_graph(verify(g))
    assert "dense<f32[2,2]>[0.1, -0.0, nan, -inf]" in text
    assert "dense<u8[]>[3]" in text and "dense<i8[0,2]>[]" in text
    assert "dt=f32" in text and "none=none" in text and "t=true" in text
    keys = re.search(r"attr_probe\[(.*)\] %x", text).group(1)
    assert re.findall(r"(?:^|, )([a-z0-9_]+)=", keys)[:3] == ["arr", "arr64", "barr"]  # sorted
    g2 = roundtrip(g)
    parsed = g2.nodes[0].attrs
    assert list(parsed) == sorted(ATTRS)
    for k, v in ATTRS.items():
        assert same_attr(v, parsed[k]), (k, v, parsed[k])
    a = rng.standard_normal(2).astype(np.float32)
    assert_same_results(g, g2, [a])


def test_roundtrip_graph_edge_cases():
    # no inputs, no outputs, empty body
    assert str(parse("graph @nothing() {\n  return\n}\n")) == "graph @nothing() {\n  return\n}\n"
    # state only, an update straight from an input, an output that is an input, duplicate outputs
    g = Graph("edge")
    x = g.add_input("x", T((3,)))
    s = g.add_state("s_1.b", T((3,)))
    g.outputs = [x, x, s]
    g.updates = {"s_1.b": x}
    roundtrip(verify(g))
    # a loc with spaces and a long line past the loc column
    g = Graph("locs")
    x = g.add_input("a_very_long_input_name_to_push_the_line_past_the_column", T((1, 2, 3, 4, 5)))
    b = Builder(g)
    y = b.reshape(x, shape=(120,), loc="/home/user/my project/model.py:123")
    z = b.exp(y, loc="<stdin>:1")
    g.outputs = [y, z]
    g2 = roundtrip(verify(g))
    assert [n.loc for n in g2.nodes] == ["/home/user/my project/model.py:123", "<stdin>:1"]


@st.composite
def _float_arrays(draw):
    dt = draw(st.sampled_from([np.float32, np.float64]))
    bits = np.uint32 if dt is np.float32 else np.uint64
    n = draw(st.integers(0, 6))
    raw = draw(st.lists(st.integers(0, int(np.iinfo(bits).max)), min_size=n, max_size=n))
    return np.array(raw, dtype=bits).view(dt)


@given(_float_arrays(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_float_constants_roundtrip_bit_exactly(values, scalar):
    """Any float bit pattern (subnormals, extremes, +-0, inf) reads back to the same bits."""
    g = Graph("c")
    b = Builder(g)
    if scalar and values.size:
        vals = [b.const(v, values.dtype) for v in values]
    else:
        vals = [b.emit("constant", value=values)]
    g.outputs = vals
    g2 = roundtrip(verify(g))
    for a, c in zip(run(g, [])[0], run(g2, [])[0]):
        assert_bitwise_equal(a, c)


def _fused_graph():
    """An outer graph holding a two-result kernel whose body uses a constant and a reduction."""
    body = Graph("kernel")
    a, c = body.add_input("a", T((2, 3))), body.add_input("b", T((3,)))
    kb = Builder(body, loc="k.py:5")
    body.outputs = [kb.add(kb.mul(kb.exp(a), c), 1.0), kb.sum(a, axis=(1,), keepdims=False)]
    g = Graph("outer")
    x, y = g.add_input("x", T((2, 3))), g.add_input("y", T((3,)))
    b = Builder(g, loc="outer.py:1")
    k = b.emit_node("fused", b.neg(x), y, body=body, kind="reduce")
    g.outputs = [b.tanh(k.outputs[0]), k.outputs[1]]
    return verify(g)


def test_roundtrip_fused_kernel(rng):
    g = _fused_graph()
    text = print_graph(g)
    assert "fused[kind=\"reduce\"] %0, %y {" in text and "    graph @kernel(" in text
    g2 = roundtrip(g)
    body2 = g2.nodes[1].attrs["body"]
    assert isinstance(body2, Graph) and [n.op for n in body2.nodes] == \
        [n.op for n in g.nodes[1].attrs["body"].nodes]
    inputs = [rng.standard_normal((2, 3)).astype(np.float32),
              rng.standard_normal(3).astype(np.float32)]
    assert_same_results(g, g2, inputs)
    # the interpreter recursing into the body == the same ops spelled out
    x, y = inputs
    outs, _ = run(g2, inputs)
    np.testing.assert_allclose(outs[0], np.tanh(np.exp(-x) * y + 1), rtol=1e-6)
    np.testing.assert_allclose(outs[1], (-x).sum(axis=1), rtol=1e-6)


def test_verifier_recurses_into_fused_bodies():
    g = _fused_graph()
    body = g.nodes[1].attrs["body"]
    body.nodes.reverse()  # use before define inside the body
    with pytest.raises(graphc.VerifyError,
                       match=r"in its body graph: graph @kernel, node 1 \(add at k.py:5\)"):
        verify(g)


def test_verifier_context_marks_the_right_line_after_a_kernel():
    g = _fused_graph()
    tanh = g.nodes[2]
    tanh.outputs[0].type = T((9,))  # now disagrees with the shape rule
    with pytest.raises(graphc.VerifyError) as info:
        verify(g)
    marked = [ln for ln in str(info.value).splitlines() if ln.startswith("> ")]
    assert len(marked) == 1 and "= tanh %1" in marked[0], str(info.value)


def test_parser_reports_lines_inside_fused_bodies():
    text = print_graph(_fused_graph())
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if "= exp %a" in ln)
    lines[k] = lines[k].replace("exp %a", "exp %zz")
    with pytest.raises(graphc.ParseError, match=f"line {k + 1}, column"):
        parse("\n".join(lines) + "\n")


# ---- printer determinism ------------------------------------------------------------------------


def test_printer_is_deterministic_and_numbers_densely():
    g = train_step_graph()
    assert print_graph(g) == print_graph(g) == str(train_step_graph())
    text = print_graph(g)
    defined = re.findall(r"^  (%\d+): ", text, flags=re.M)
    assert defined == [f"%{k}" for k in range(len(g.nodes))]
    # a use always refers to an earlier id
    for line in text.splitlines()[1:-2]:
        lhs, rhs = line.split(" = ", 1)
        me = int(re.match(r"\s+%(\d+)", lhs).group(1))
        assert all(int(u) < me for u in re.findall(r"%(\d+)", rhs.split("#")[0]))


def test_printer_renumbers_after_nodes_are_removed():
    g = Graph("dce")
    x = g.add_input("x", T((2,)))
    b = Builder(g)
    b.exp(x)                      # dead
    y = b.neg(x)
    b.tanh(y)                     # dead
    z = b.add(y, y)
    g.outputs = [z]
    g.nodes = [n for n in g.nodes if n.op not in ("exp", "tanh")]
    text = print_graph(verify(g))
    assert text == ("graph @dce(%x: f32[2]) {\n"
                    "  %0: f32[2] = neg %x\n"
                    "  %1: f32[2] = add %0, %0\n"
                    "  return %1\n"
                    "}\n")


def test_printer_sorts_attributes():
    g = Graph("s")
    x = g.add_input("x", T((3, 4)))
    node = Node("sum", [x], {"keepdims": True, "axis": (1,)}, [T((3, 1))])
    g.add_node(node)
    g.outputs = [node.out]
    assert "sum[axis=[1], keepdims=true] %x" in print_graph(verify(g))


# ---- verifier negative tests --------------------------------------------------------------------


def _simple():
    g = Graph("v")
    x = g.add_input("x", T((3,)))
    return g, x, Builder(g)


def _use_before_define():
    g, x, b = _simple()
    y = b.exp(x)
    z = b.neg(y)
    g.nodes.reverse()
    g.outputs = [z]
    return g


def _wrong_result_type():
    g, x, b = _simple()
    g.add_node(Node("exp", [x], {}, [T((4,))]))
    return g


def _wrong_result_dtype():
    g, x, b = _simple()
    g.add_node(Node("lt", [x, x], {}, [T((3,))]))  # compare gives bool
    return g


def _unknown_op():
    g, x, b = _simple()
    g.add_node(Node("frobnicate", [x], {}, [T((3,))]))
    return g


def _missing_attribute():
    g, x, b = _simple()
    g.add_node(Node("reshape", [x], {}, [T((3,))]))
    return g


def _bad_attribute_value():
    g, x, b = _simple()
    g.add_node(Node("transpose", [x], {"perm": (1, 0)}, [T((3,))]))
    return g


def _duplicate_input_names():
    g, x, b = _simple()
    g.add_input("x", T((3,)))
    return g


def _input_and_state_same_name():
    g, x, b = _simple()
    g.add_state("x", T((3,)))
    return g


def _update_of_non_state():
    g, x, b = _simple()
    g.updates["x"] = b.exp(x)
    return g


def _update_type_mismatch():
    g, x, b = _simple()
    g.add_state("w", T((3,), "f64"))
    g.updates["w"] = b.exp(x)
    return g


def _update_undefined():
    g, x, b = _simple()
    g.add_state("w", T((3,)))
    g.updates["w"] = Value(T((3,)))
    return g


def _output_not_defined():
    g, x, b = _simple()
    other = Graph("other")
    g.outputs = [Builder(other).exp(other.add_input("y", T((3,))))]
    return g


def _non_identifier_input():
    g = Graph("v")
    g.add_input("3d-input", T((3,)))
    return g


def _operand_not_a_value():
    g, x, b = _simple()
    g.add_node(Node("exp", [np.zeros(3, np.float32)], {}, [T((3,))]))
    return g


def _node_listed_twice():
    g, x, b = _simple()
    b.exp(x)
    g.nodes.append(g.nodes[0])
    return g


def _state_key_mismatch():
    g, x, b = _simple()
    g.state["w"] = Value(T((3,)), "v")
    return g


VERIFY_CASES = [
    (_use_before_define, "not defined before this node"),
    (_wrong_result_type, "differ from the shape rule"),
    (_wrong_result_dtype, "bool[3]"),
    (_unknown_op, "unknown op 'frobnicate'"),
    (_missing_attribute, "bad or missing attribute"),
    (_bad_attribute_value, "not a permutation"),
    (_duplicate_input_names, "used twice"),
    (_input_and_state_same_name, "used twice"),
    (_update_of_non_state, "not state"),
    (_update_type_mismatch, "does not match"),
    (_update_undefined, "undefined"),
    (_output_not_defined, "output 0 (f32[3]) is not defined"),
    (_non_identifier_input, "not an identifier"),
    (_operand_not_a_value, "not a Value"),
    (_node_listed_twice, "not uniquely owned"),
    (_state_key_mismatch, "state key"),
]


@pytest.mark.parametrize("make, fragment", VERIFY_CASES,
                         ids=[m.__name__[1:] for m, _ in VERIFY_CASES])
def test_verifier_rejects(make, fragment):
    g = make()
    with pytest.raises(graphc.VerifyError) as info:
        verify(g)
    assert isinstance(info.value, graphc.GraphcError)
    assert fragment in str(info.value)
    assert "@v" in str(info.value) or make is _output_not_defined


def test_verifier_names_the_node_and_shows_context():
    g = _use_before_define()
    with pytest.raises(graphc.VerifyError) as info:
        verify(g)
    msg = str(info.value)
    assert msg.startswith("graph @v, node 0 (neg): operand 0")
    assert "> " in msg and "= neg" in msg  # the offending printed line, marked


def test_verifier_accepts_good_graphs(rng):
    verify(train_step_graph())  # raises VerifyError (failing the test) on anything wrong
    for name, op in OPS.items():
        for s in op.samples:
            verify(build_single_op_graph(name, sample_arrays(s, rng), s.attrs))


# ---- parser errors ------------------------------------------------------------------------------

GOOD = """graph @g(%x: f32[3,4]) state(%w: f32[4]) {
  %0: f32[3,4] = exp %x                                           # m.py:2
  %1: f32[3] = sum[axis=[1], keepdims=false] %0
  return %1 updates(%w <- %w)
}
"""


def test_good_text_parses():
    assert str(parse(GOOD)) == GOOD


def _edit(old, new):
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# (text, line of the error, a fragment of the message, column or None)
PARSE_CASES = {
    "missing_close_brace": (GOOD[:-2], 5, "expected }", 1),
    "missing_open_brace": (_edit(" {\n", "\n"), 2, "expected {", 3),
    "unknown_op": (_edit("= exp %x", "= expo %x"), 2, "unknown op", 18),
    "unknown_dtype": (_edit("%1: f32[3]", "%1: f33[3]"), 3, "unknown dtype", 7),
    "unknown_dtype_in_header": (_edit("%x: f32[3,4]", "%x: float[3,4]"), 1, "unknown dtype", 14),
    "undefined_value": (_edit("keepdims=false] %0", "keepdims=false] %7"), 3,
                        "used before it is defined", None),
    "declared_type_mismatch": (_edit("%1: f32[3]", "%1: f32[4]"), 3, "declared type f32[4]", 16),
    "declared_dtype_mismatch": (_edit("%1: f32[3]", "%1: f64[3]"), 3, "sum gives f32[3]", 16),
    "shape_rule_failure": (_edit("axis=[1]", "axis=[2]"), 3, "out of range", 16),
    "garbage_character": (_edit("exp %x", "exp $x"), 2, "unexpected character '$'", 22),
    "garbage_in_header": (_edit("@g(", "@g(!"), 1, "unexpected character '!'", 10),
    "truncated_mid_node": (GOOD[:GOOD.index("keepdims")], 3, "<end of text>", None),
    "truncated_mid_type": (GOOD[:GOOD.index("[3,4]) state")], 1, "<end of text>", None),
    "trailing_text": (GOOD + "graph\n", 6, "text after the end", 1),
    "bad_attribute_value": (_edit("keepdims=false", "keepdims=maybe"), 3,
                            "expected an attribute value", None),
    "duplicate_attribute": (_edit("keepdims=false", "keepdims=false, axis=[1]"), 3,
                            "attribute given twice", None),
    "missing_attribute": (_edit("sum[axis=[1], keepdims=false]", "reshape"), 3, "attribute",
                          None),
    "value_defined_twice": (_edit("%1: f32[3] =", "%0: f32[3] ="), 3, "defined twice", None),
    "duplicate_input": (_edit("state(%w: f32[4])", "state(%x: f32[4])"), 1, "defined twice",
                        None),
    "duplicate_state": (_edit("state(%w: f32[4])", "state(%w: f32[4], %w: f32[4])"), 1,
                        "defined twice", None),
    "update_of_non_state": (_edit("%w <- %w", "%x <- %w"), 4, "not state", None),
    "negative_dimension": (_edit("%1: f32[3]", "%1: f32[-3]"), 3, "non-negative integer", None),
    "float_dimension": (_edit("%1: f32[3]", "%1: f32[3.0]"), 3, "non-negative integer", None),
    "constant_wrong_count": (_edit("  return", "  %2: f32[2] = constant[value=[1.0]]\n  return"),
                             4, "needs 2 elements", None),
    "constant_out_of_range": (_edit("  return", "  %2: u8[] = constant[value=300]\n  return"),
                              4, "out of range for u8", None),
    "constant_f32_overflow": (_edit("  return", "  %2: f32[] = constant[value=1e39]\n  return"),
                              4, "out of range for f32", None),
    "constant_float_into_int": (_edit("  return", "  %2: i64[] = constant[value=1.5]\n  return"),
                                4, "not a i64 literal", None),
    "constant_string": (_edit("  return", '  %2: f32[] = constant[value="1"]\n  return'),
                        4, "not a f32 literal", None),
    "dense_bad_element": (_edit("keepdims=false", "keepdims=false, d=dense<bool[1]>[1]"), 3,
                          "not a bool literal", None),
    "unterminated_string": (_edit("keepdims=false", 'keepdims="open'), 3,
                            "unexpected character", None),
    "empty_text": ("", 1, "expected graph", 1),
}


@pytest.mark.parametrize("text, line, fragment, col", PARSE_CASES.values(), ids=list(PARSE_CASES))
def test_parser_rejects(text, line, fragment, col):
    with pytest.raises(graphc.ParseError) as info:
        parse(text)
    msg = str(info.value)
    assert isinstance(info.value, graphc.GraphcError)
    m = re.match(r"line (\d+), column (\d+): ", msg)
    assert m, msg
    assert int(m.group(1)) == line, msg
    if col is not None:
        assert int(m.group(2)) == col, msg
    assert fragment in msg, msg


@given(st.integers(0, len(GOOD) - 1), st.integers(0, len(GOOD)),
       st.sampled_from(["", "$", "%", "[", "]", ",", "=", "1", "-", "<-", "\n", "{", "f32", "#"]))
@settings(max_examples=300, deadline=None)
def test_parser_never_crashes_on_mangled_text(i, j, insert):
    """Any edit of a valid text parses or raises ParseError; never another exception."""
    text = GOOD[:i] + insert + GOOD[max(i, j):]
    try:
        g = parse(text)
    except graphc.ParseError:
        return
    assert str(parse(str(g))) == str(g)


# ---- exports ------------------------------------------------------------------------------------


def _small_graph():
    g = Graph("small")
    x = g.add_input("x", T((2, 3)))
    w = g.add_state("w", T((3, 4)))
    b = Builder(g, loc="small.py:1")
    h = b.matmul(x, w)
    r = b.tanh(h)
    s = b.sum(r, axis=(1,), keepdims=False)
    g.outputs = [s, h]
    g.updates = {"w": b.mul(w, b.const(0.5, "f32"))}
    return verify(g)


def test_to_networkx():
    g = _small_graph()
    d = to_networkx(g)
    assert isinstance(d, nx.DiGraph) and d.graph["name"] == "small"
    # x, w, 5 nodes (matmul, tanh, sum, constant, mul), 2 outputs, 1 update
    assert d.number_of_nodes() == 2 + len(g.nodes) + 2 + 1 == 10
    # matmul: 2, tanh: 1, sum: 1, mul: 2, outputs: 2, update: 1
    assert d.number_of_edges() == 9
    assert nx.is_directed_acyclic_graph(d)
    assert d.nodes["x"]["kind"] == "input" and d.nodes["w"]["kind"] == "state"
    assert d.nodes[0]["op"] == "matmul" and d.nodes[0]["types"] == ["f32[2,4]"]
    assert d.nodes[0]["loc"] == "small.py:1"
    assert d.nodes[2]["attrs"] == {"axis": (1,), "keepdims": False}
    assert d.edges["x", 0]["type"] == "f32[2,3]"
    assert d.edges[0, "output1"]["type"] == "f32[2,4]"
    assert set(d.predecessors("update:w")) == {4}
    assert nx.has_path(d, "w", "output0") and not nx.has_path(d, "x", "update:w")


def test_to_dot():
    g = _small_graph()
    d = to_networkx(g)
    text = to_dot(g)
    lines = text.splitlines()
    assert lines[0] == 'digraph "small" {' and lines[-1] == "}"
    node_lines = [ln for ln in lines if re.match(r'\s+"[^"]+" \[label=', ln)]
    edge_lines = [ln for ln in lines if " -> " in ln]
    assert len(node_lines) == d.number_of_nodes()
    assert len(edge_lines) == d.number_of_edges()
    assert any("matmul" in ln and "f32[2,4]" in ln and "small.py:1" in ln for ln in node_lines)
    assert '"x" -> "0"' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_to_dot_renders_with_graphviz(tmp_path):
    src = tmp_path / "g.dot"
    src.write_text(to_dot(_small_graph()))
    out = subprocess.run(["dot", "-Tsvg", str(src)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "<svg" in out.stdout


# ---- interpreter --------------------------------------------------------------------------------


def test_interpreter_results_do_not_alias_inputs_or_state():
    g = Graph("alias")
    x = g.add_input("x", T((2, 3)))
    a, s = g.add_state("a", T((3,))), g.add_state("b", T((3,)))
    b = Builder(g)
    g.outputs = [x, b.reshape(x, shape=(6,)), b.transpose(x, perm=(1, 0)),
                 b.slice(x, start=(0, 0), stop=(1, 3), step=(1, 1)), b.stop_gradient(a)]
    g.updates = {"a": s, "b": a}  # a swap
    xs = np.arange(6, dtype=np.float32).reshape(2, 3)
    state = {"a": np.zeros(3, np.float32), "b": np.ones(3, np.float32)}
    outs, ups = run(verify(g), [xs], state)
    for o in outs:
        assert not any(np.shares_memory(o, arr) for arr in [xs, *state.values()])
    # writing updates back in order (as graphc.compile does) really swaps
    for k, v in ups.items():
        np.copyto(state[k], v)
    np.testing.assert_array_equal(state["a"], 1)
    np.testing.assert_array_equal(state["b"], 0)


def test_interpreter_errors():
    g, x, b = _simple()
    g.outputs = [b.exp(x)]
    with pytest.raises(graphc.ExecutionError, match="takes 1 inputs, got 0"):
        run(g, [])
    g.add_state("w", T((3,)))
    with pytest.raises(graphc.ExecutionError, match="no array given for state %w"):
        run(g, [np.zeros(3, np.float32)])
    g2 = Graph("idx")
    xv = g2.add_input("x", T((2, 3)))
    iv = g2.add_input("i", T((2,), "i64"))
    g2.outputs = [Builder(g2, loc="data.py:9").gather(xv, iv, axis=1)]
    with pytest.raises(graphc.ExecutionError, match=r"gather at data.py:9 .*out of bounds"):
        run(g2, [np.zeros((2, 3), np.float32), np.array([0, 3])])
