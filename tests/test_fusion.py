"""Fusion: which ops share a kernel (MLP forward, softmax, the Adam update), the seed step's kernel
count and arena size as exact numbers, and the invariants every fused graph must keep: an acyclic
kernel graph holding every data dependency, verifying bodies, print/parse round trips, and the
same results as the unfused graph on the interpreter.
"""
from __future__ import annotations

import re
import textwrap

import networkx as nx
import numpy as np
import pytest
from golden_util import (
    GOLDEN,
    assert_same_results,
    make_seed_step,
    random_args,
    roundtrip,
    seed_batch,
)
from hypothesis import given
from test_passes import FUZZ, check_memory_plan, fuzz_cases

import graphc
import passes
from graphc import nn
from graphc.ir import Graph, parse, print_graph, to_networkx, verify
from graphc.ir.ops.fused import KINDS
from passes.fuse import Fuser

# The seed step (784-128-10 MLP, CrossEntropyLoss, Adam, batch 64) after the default pipeline.
# A change here is a fusion or memory-planning regression (or improvement): update on purpose.
SEED_KERNELS = 12
SEED_ARENA_BYTES = 76288


def kernels(g: Graph) -> list:
    """Top-level nodes that run as kernels (constants and reshapes cost no kernel)."""
    return [n for n in g.nodes if n.op not in ("constant", "reshape")]


def fused(g: Graph, kind: str | None = None) -> list:
    return [n for n in g.nodes if n.op == "fused" and (kind is None or n.attrs["kind"] == kind)]


def body_ops(n) -> set[str]:
    return {m.op for m in n.attrs["body"].nodes}


def producer_of(g: Graph, v):
    (node,) = [n for n in g.nodes if v in n.outputs]
    return node


@pytest.fixture(scope="module")
def seed():
    """The seed step after two calls (the steady-state specialisation) and its stages."""
    step, _, _ = make_seed_step()
    step(*seed_batch(0))
    step(*seed_batch(1))
    return step


# ---- the seed step ------------------------------------------------------------------------------


def test_seed_kernel_count_and_arena_are_exact(seed):
    g = seed.graph
    ks = kernels(g)
    assert len(ks) == SEED_KERNELS, "\n".join(f"{n.op} {n.attrs.get('kind', '')}" for n in ks)
    m = g.meta["memory"]
    assert g.meta["arena"] == m["arena_bytes"] == SEED_ARENA_BYTES, seed.memory_report()
    assert m["lower_bound_bytes"] <= m["arena_bytes"] <= m["intermediates_bytes"]
    assert m["arena_bytes"] < m["intermediates_bytes"]  # some reuse happens
    check_memory_plan(g)
    head = print_graph(g).splitlines()[0]
    assert head.endswith(f"arena({SEED_ARENA_BYTES}) {{")
    report = seed.memory_report()
    assert f"arena {SEED_ARENA_BYTES} B" in report and "20 state updates in place" in report


def test_seed_every_state_update_is_in_place(seed):
    g = seed.graph
    assert len(g.updates) == 20 and g.meta["memory"]["in_place_updates"] == 20
    text = print_graph(g)
    for name, v in g.updates.items():
        assert g.meta["buffers"][v] == name, (name, g.meta["buffers"].get(v))
        assert re.search(rf"%\d+: f32\[[\d,]*\] @{re.escape(name)}[ ,]", text), name


def test_seed_adam_update_of_a_weight_is_one_matmul_kernel(seed):
    g = seed.graph
    for w in ("fc1.weight", "fc2.weight"):
        node = producer_of(g, g.updates[w])
        assert node.op == "fused" and node.attrs["kind"] == "matmul"
        ops = body_ops(node)
        assert {"matmul", "sqrt", "div", "pow"} <= ops, ops  # gradient, then the whole update
        for k in ("grad", "step", "exp_avg", "exp_avg_sq"):  # its state all comes out of it too
            assert producer_of(g, g.updates[f"{w}.{k}"]) is node, k
        assert sum(1 for m in node.attrs["body"].nodes if m.op == "matmul") == 1
    line = next(ln for ln in print_graph(g).splitlines() if "@fc1.weight =" in ln)
    assert 'fused[kind="matmul"]' in line and "@fc1.weight.exp_avg," in line


def test_seed_bias_update_is_one_reduce_kernel(seed):
    g = seed.graph
    for b in ("fc1.bias", "fc2.bias"):
        node = producer_of(g, g.updates[b])
        assert node.op == "fused" and node.attrs["kind"] == "reduce"
        assert "sum" in body_ops(node) and "sqrt" in body_ops(node)


def test_seed_fusion_report(seed):
    report = seed.fusion_report()
    assert report.startswith(f"# {SEED_KERNELS} kernels: ")
    assert report == passes.fusion_report(parse(seed.ir("dce")))
    assert report.count("starts kernel") - report.count(" joins k") == SEED_KERNELS
    assert "%0 = matmul starts kernel k0: a matmul starts its own kernel" in report


def test_seed_fused_graph_roundtrips_and_matches_unfused(seed):
    unfused = parse(seed.ir("dce"))
    for stage in ("fuse", "plan-memory"):
        g = parse(seed.ir(stage))
        assert print_graph(g) == seed.ir(stage)
        verify(g)
        inputs, state = random_args(g, np.random.default_rng(0), int_high=10)
        assert_same_results(unfused, g, inputs, state, rtol=0.0)  # the same ops: the same bits
    assert_same_results(unfused, seed.graph, inputs, state, rtol=0.0)


def test_seed_kernel_graph_is_acyclic(seed):
    d = to_networkx(seed.graph)
    assert nx.is_directed_acyclic_graph(d)
    kernel_ids = [i for i, data in d.nodes(data=True) if data.get("op") == "fused"]
    assert len(kernel_ids) == len(fused(seed.graph)) >= 9
    check_fuser_dag(parse(seed.ir("dce")))


def test_every_fused_body_verifies(seed):
    for n in fused(seed.graph):
        body = n.attrs["body"]
        verify(body)
        assert n.attrs["kind"] in KINDS and not body.state and not body.updates
        assert body.outputs and [v.type for v in body.outputs] == [v.type for v in n.outputs]
        used = {v for m in body.nodes for v in m.inputs}
        assert all(v in used for v in body.inputs), "a kernel input nothing reads"
        if n.attrs["kind"] == "matmul":  # one product per kernel, the rest is its epilogue
            assert sum(1 for m in body.nodes if m.op == "matmul") == 1


# ---- structure on small models ------------------------------------------------------------------


def test_relu_mlp_forward_fuses_matmul_bias_relu():
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    infer = graphc.compile(net, backend="interpreter")
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    y = infer(x)
    g = infer.graph
    ks = kernels(g)
    assert len(ks) == 2 and all(n.op == "fused" and n.attrs["kind"] == "matmul" for n in ks)
    assert {"matmul", "add", "where"} <= body_ops(ks[0]), body_ops(ks[0])
    assert body_ops(ks[1]) == {"matmul", "add"}
    w1, b1, w2, b2 = (p.numpy() for p in net.parameters())
    want = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_softmax_pieces_form_reduce_kernels():
    def f(x):
        return graphc.softmax(x, 1), graphc.log_softmax(x, 1)

    sm = graphc.compile(f, backend="interpreter")
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    p, lp = sm(x)
    g = sm.graph
    reduce = fused(g, "reduce")
    assert reduce and any({"exp", "sum"} <= body_ops(n) for n in reduce)
    assert not any(n.op == "sum" for n in g.nodes), "a sum outside a reduce kernel"
    assert len(kernels(g)) <= 5, print_graph(g)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(lp, np.log(e / e.sum(1, keepdims=True)), rtol=1e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(x), 1).numpy(), rtol=1e-6,
                               atol=1e-7)


def test_sgd_momentum_update_joins_the_gradient_matmul():
    g = passes.fuse(parse((GOLDEN / "fuse_update.in.ir").read_text()))
    (k,) = fused(g)
    assert k.attrs["kind"] == "matmul"
    assert {g.updates["w"], g.updates["v"], g.updates["step"]} <= set(k.outputs)
    p = passes.plan_memory(g)
    check_memory_plan(p)
    assert p.meta["buffers"][p.updates["w"]] == "w" and p.meta["buffers"][p.updates["v"]] == "v"


# ---- regressions: graphs that used to break fusion ----------------------------------------------

PENDING_INTO_MATMUL = """\
graph @f(%x: f32[4,4], %w: f32[4,4]) {
  %0: f32[4,4] = exp %x
  %1: f32[4,4] = matmul %0, %w
  %2: f32[4,1] = sum[axis=[1], keepdims=true] %1
  %3: f32[4,4] = add %2, %0
  return %3
}
"""


def test_input_only_op_read_by_a_matmul_and_a_later_kernel():
    """exp(x) reads only inputs, so fusion holds it back for a consumer to pull in; the matmul
    reading it must still see it as a kernel dependency (it used to raise KeyError)."""
    g = parse(PENDING_INTO_MATMUL)
    out = passes.fuse(g)
    verify(roundtrip(out))
    check_fuser_dag(g)
    inputs, _ = random_args(g, np.random.default_rng(0))
    assert_same_results(g, out, inputs, rtol=0.0)


GATHER_IN_KERNEL = """\
graph @f(%x: f32[5], %i: i64[], %y: f32[5]) {
  %0: f32[5] = exp %x
  %1: f32[] = gather[axis=0] %0, %i
  %2: f32[5] = add %1, %y
  %3: f32[] = sum[axis=none, keepdims=false] %2
  return %3
}
"""


def test_pulled_producer_that_cannot_join_does_not_make_a_cycle():
    """The sum's kernel pulls add <- gather <- exp; exp may join but gather may not (its table
    must come from memory), so exp must not join either: it used to, and _build raised KeyError."""
    g = parse(GATHER_IN_KERNEL)
    check_fuser_dag(g)
    out = passes.fuse(g)
    verify(roundtrip(out))
    (k,) = fused(out)
    assert body_ops(k) == {"gather", "add", "sum"} and k.attrs["kind"] == "reduce"
    inputs, _ = random_args(g, np.random.default_rng(0), int_high=5)
    assert_same_results(g, out, inputs, rtol=0.0)


def test_dead_kernel_is_dropped_not_printed_empty():
    g = parse(textwrap.dedent("""\
        graph @f(%x: f32[4]) {
          %0: f32[4] = exp %x
          %1: f32[4] = neg %0
          %2: f32[4] = tanh %x
          %3: f32[4] = abs %2
          return %3
        }
        """))
    out = passes.fuse(g)
    text = print_graph(out)
    assert " = fused" in text and "   = fused" not in text and "exp" not in text
    roundtrip(out)


def test_fuse_is_idempotent_and_leaves_its_input_alone():
    g = parse(PENDING_INTO_MATMUL)
    before = print_graph(g)
    once = passes.fuse(g)
    assert print_graph(g) == before
    assert print_graph(passes.fuse(once)) == print_graph(once)
    fused_graph = passes.fuse(parse(GATHER_IN_KERNEL))
    assert fused(fused_graph) and passes.fuse(fused_graph) is fused_graph


# ---- random graphs: the fuser's own kernel graph ------------------------------------------------


def check_fuser_dag(g: Graph) -> None:
    """The fuser's kernel DAG is acyclic and holds an edge for every value crossing kernels."""
    f = Fuser(g)
    groups = f.run()
    assert nx.is_directed_acyclic_graph(f.dag)
    for n in g.nodes:
        gn = f.group_of.get(n)
        for v in n.inputs:
            gp = f.group_of.get(v.producer) if v.producer is not None else None
            if gn is not None and gp is not None and gp is not gn:
                assert f.dag.has_edge(gp.id, gn.id), \
                    f"{n.op} in k{gn.id} reads {v.producer.op} of k{gp.id}: no edge"
    assert sum(len(grp.nodes) for grp in groups) == sum(
        1 for n in g.nodes if n in f.group_of)


@FUZZ
@given(case=fuzz_cases())
def test_random_graphs_fuser_dag_and_fused_results(case):
    g, inputs, state = case
    g = passes.dce(passes.autodiff(g))
    check_fuser_dag(g)
    out = passes.fuse(g)
    back = roundtrip(out)
    for n in fused(back):
        verify(n.attrs["body"])
        assert n.outputs
    assert_same_results(g, back, inputs, state, rtol=0.0)


def test_independent_same_shape_kernels_fuse_horizontally():
    """Several parameters' updates (independent elementwise work over one shape) run as one
    kernel; dependent ones never merge (that would make a cycle)."""
    g = parse(textwrap.dedent("""\
        graph @upd(%g1: f32[8,4], %g2: f32[8,4], %lr: f32[]) state(%w1: f32[8,4], %w2: f32[8,4]) {
          %0: f32[8,4] = mul %g1, %lr
          %1: f32[8,4] = sub %w1, %0
          %2: f32[8,4] = mul %g2, %lr
          %3: f32[8,4] = sub %w2, %2
          return updates(%w1 <- %1, %w2 <- %3)
        }
        """))
    out = passes.fuse(g)
    kernels = [n for n in out.nodes if n.op == "fused"]
    assert len(kernels) == 1 and len(kernels[0].outputs) == 2
    assert "independent elementwise kernels" in passes.fusion_report(g)
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(2)] + \
        [np.float32(0.1)]
    st = {"w1": rng.standard_normal((8, 4)).astype(np.float32),
          "w2": rng.standard_normal((8, 4)).astype(np.float32)}
    from graphc.ir.interpreter import run
    (_, u1), (_, u2) = run(g, ins, st), run(out, ins, st)
    for k in u1:
        np.testing.assert_array_equal(u1[k], u2[k])
    roundtrip(out)
