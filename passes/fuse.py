"""Fusion: group ops into kernels, each an ordinary `fused` node whose body is a graph.

Kernels the LLVM backend lowers as single loop nests:

- elementwise — ops over one iteration shape S (inputs may broadcast into S; scalar "uniform"
  ops are computed once before the loop): activation chains, gradient chains, and each
  parameter's whole optimizer update with its scalar bias-correction arithmetic;
- reduce — an elementwise prologue over S accumulating sum/max over axes R, then an epilogue
  over the reduced shape (mean's scaling, a bias gradient feeding that bias's update);
- matmul — one matrix product with an elementwise epilogue over its result (bias, ReLU and its
  mask, the ReLU mask in the backward, or a weight's whole update right after its gradient),
  and, where a PACK op's result is read only as the matmul's B operand, that op too: the kernel
  computes B's panels as it packs them instead of reading a materialised B (a convolution's
  im2col columns: the implicit GEMM). A PACK op read by several such matmuls (in training,
  the forward product W @ cols and the weight gradient g @ cols^T) is first copied once per
  reader (`one_pack_per_reader`), so each computes its own panels and none is materialised.

What may join what is decided from each op's declared fusion class (`OpDef.fusion`), never from
op names: LOOP ops (elementwise, broadcast, gather) join loop kernels and matmul epilogues,
REDUCE ops turn an elementwise kernel into a reduce kernel, MATMUL ops start matmul kernels, and
every other class (views, constants, opaque kernels, markers) stays a node of its own.

Grouping is greedy in program order: each node joins a producer's kernel when that is legal,
else it starts one. networkx keeps the kernel dependency graph, rejects merges that would make
a cycle, and proves the final kernel graph acyclic. Why each kernel boundary exists is recorded
(`fusion_report`), for the dump at a higher level.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from graphc.ir import Fusion, Graph, Node, Value, fusion_of
from graphc.ir.ops import FUSIBLE, LOOP, NO_KERNEL

from .dce import dce
from .rewrite import copy_graph_header, finish


def _descendants(dag: nx.DiGraph) -> dict[int, int]:
    """Kernel id -> the set of kernel ids reachable from it, as a bitmask (bit k: kernel k).
    One pass in reverse topological order, so a pairwise reachability test costs a shift, where
    one `nx.has_path` per pair made merging siblings quadratic in the kernel count."""
    out: dict[int, int] = {}
    for k in reversed(list(nx.topological_sort(dag))):
        m = 0
        for s in dag.successors(k):
            m |= out[s] | (1 << s)
        out[k] = m
    return out


@dataclass(eq=False)
class Group:
    """One kernel being formed: its kind, iteration shape, nodes and reduction details."""

    id: int
    kind: str                      # elementwise | reduce | matmul | single
    shape: tuple                   # iteration shape S
    nodes: list[Node] = field(default_factory=list)
    axes: tuple | None = None      # reduce: reduced axes R
    rshape: tuple | None = None    # reduce: shape of the reduction results
    reduced: set = field(default_factory=set)   # values computed after the reductions

    def values(self):
        """The values this kernel's nodes produce."""
        return {v for n in self.nodes for v in n.outputs}


def _is_splat_const(v: Value) -> bool:
    p = v.producer
    return p is not None and fusion_of(p) is Fusion.SOURCE and p.attrs["value"].size == 1 \
        and v.type.ndim == 0


def _reduces(n: Node) -> bool:
    return fusion_of(n) is Fusion.REDUCE


class Fuser:
    """Greedy fusion state: the kernels so far, their dependency DAG, and why each one exists."""

    def __init__(self, g: Graph):
        self.g = g
        self.group_of: dict[Node, Group] = {}
        self.groups: list[Group] = []
        self.dag = nx.DiGraph()
        self.why: list[str] = []
        self.index = {n: i for i, n in enumerate(g.nodes)}
        self.names = _value_names(g)
        self.pending: dict[Node, None] = {}   # insertion-ordered set
        self.users = g.users()
        self.results = set(g.outputs) | set(g.updates.values())
        self.packs: dict[Node, None] = {}   # PACK nodes waiting for the matmul that packs them

    # -- bookkeeping ---------------------------------------------------------------------------
    def new_group(self, n: Node, kind: str, shape, reason: str | None = None) -> Group:
        """Start a kernel with node `n` (recording `reason` for the report); returns it."""
        grp = Group(len(self.groups), kind, tuple(shape))
        self.groups.append(grp)
        self.dag.add_node(grp.id)
        if reason:
            starts = "runs no code" if fusion_of(n) in NO_KERNEL else "starts kernel"
            self.why.append(f"{self.names.get(n.outputs[0], '?')} = {n.op} {starts} "
                            f"k{grp.id}: {reason}")
        self.add(grp, n)
        return grp

    def add(self, grp: Group, n: Node) -> None:
        """Put `n` in `grp` and add kernel-graph edges from its operands' kernels."""
        grp.nodes.append(n)
        self.group_of[n] = grp
        for v in n.inputs:
            h = self.producer_group(v)
            if h is not None and h is not grp:
                self.dag.add_edge(h.id, grp.id)

    def producer_group(self, v: Value) -> Group | None:
        """The kernel holding v's producer, or None (inputs, state, nodes not placed yet)."""
        return self.group_of.get(v.producer) if v.producer is not None else None

    def creates_cycle(self, grp: Group, n: Node) -> Group | None:
        """A kernel feeding `n` that `grp` reaches (so adding n would make a cycle), or None."""
        for v in n.inputs:
            h = self.producer_group(v)
            if h is not None and h is not grp and nx.has_path(self.dag, grp.id, h.id):
                return h
        return None

    # -- legality ------------------------------------------------------------------------------
    def fits(self, grp: Group, n: Node) -> str | None:
        """None if `n` may join `grp`, else the reason it may not."""
        shape = n.outputs[0].shape
        inner = [v for v in n.inputs if v.producer in self.group_of
                 and self.group_of[v.producer] is grp]
        fusion = fusion_of(n)
        if grp.kind == "matmul" and fusion is Fusion.ELEMENTWISE and inner \
                and n.outputs[0] not in self.results and self.users.get(n.outputs[0]) \
                and all(fusion_of(u) is Fusion.REDUCE for u in self.users[n.outputs[0]]):
            # (an observer's -x for min(x) = -max(-x)): the reduction's prologue computes it
            return "feeds only reductions: computed in their prologue, not written out"
        if fusion is Fusion.BROADCAST and inner and inner[0].shape != ():
            return "a broadcast inside a kernel must read a kernel input"
        if fusion is Fusion.GATHER and n.inputs[0] in grp.values():
            return f"{n.op} reads its table from memory: the table must be a kernel input"
        if fusion is Fusion.GATHER and grp.kind == "reduce" and (
                shape != grp.shape or any(v in grp.reduced for v in inner)):
            return f"{n.op} would run in the kernel's epilogue, which has no gathers"
        if fusion is Fusion.REDUCE:
            x = n.inputs[0]
            if grp.kind not in ("elementwise", "reduce") or x.shape != grp.shape \
                    or x in grp.reduced:
                return f"its operand is not a full-shape value of a {grp.kind} kernel"
            axes = n.attrs.get("axis") or tuple(range(x.type.ndim))
            if grp.kind == "reduce" and (tuple(axes) != grp.axes or shape != grp.rshape):
                return f"reduces other axes ({axes}) than the kernel ({grp.axes})"
            return None
        if any(v in grp.reduced for v in inner) and any(v not in grp.reduced for v in inner):
            # (a scalar gathered in the loop, say): the epilogue reads only reductions and inputs
            return "mixes a reduction with a value of the kernel's loop"
        if shape == ():
            if all(v.shape == () for v in n.inputs):
                return None
            return "a scalar result of a non-scalar operand"
        depends_on_reduction = any(v in grp.reduced for v in inner)
        if grp.kind == "reduce":
            if shape == grp.rshape:
                return None  # computed in the epilogue, over the reduced shape
            if shape == grp.shape and not depends_on_reduction:
                return None
            if shape == grp.shape:
                return "uses a reduction of the same kernel at full shape (needs a second pass)"
            return f"shape {list(shape)} matches neither the loop {list(grp.shape)} nor the " \
                   f"reduction {list(grp.rshape)}"
        if grp.shape == () and grp.kind == "elementwise":
            return None  # a scalar-only kernel grows into the loop shape
        if shape != grp.shape:
            return f"shape {list(shape)} differs from the kernel's {list(grp.shape)}"
        return None

    # -- the greedy walk -----------------------------------------------------------------------
    def run(self) -> list[Group]:
        """Group the graph's nodes into kernels; returns them (kernels merged away left empty)."""
        for n in self.g.nodes:
            fusion = fusion_of(n)
            if fusion is Fusion.SOURCE and all(_is_splat_const(v) for v in n.outputs):
                continue  # scalar constants are cloned into every kernel that reads them
            if fusion is Fusion.PACK and self._packed_by_matmul(n):
                self.settle(n)
                self.packs[n] = None
                continue
            if fusion not in FUSIBLE or len(n.outputs) != 1:
                self.settle(n)
                if fusion is Fusion.MATMUL and len(n.outputs) == 1:
                    grp = self.new_group(n, "matmul", n.outputs[0].shape,
                                         "a matmul starts its own kernel")
                    p = n.inputs[1].producer
                    if p in self.packs:
                        del self.packs[p]
                        self.add(grp, p)
                        self.why.append(f"{self.names.get(p.outputs[0], '?')} = {p.op} joins "
                                        f"k{grp.id}: computed as the matmul packs its B panels")
                else:
                    self.new_group(n, "single", n.outputs[0].shape if n.outputs else (),
                                   f"op {n.op} is not fused ({fusion.value})")
                continue
            if fusion in LOOP and all(self.producer_group(v) is None
                                      for v in n.inputs if not _is_splat_const(v)):
                self.pending[n] = None  # reads only inputs/state: wait for a consumer to pull it
                continue
            self.place(n)
        for n in list(self.pending):  # nobody pulled these: they form kernels of their own
            if n in self.pending:
                self.place(n)
        self.merge_siblings()
        assert nx.is_directed_acyclic_graph(self.dag), "fusion made a cycle"
        return self.groups

    def _packed_by_matmul(self, n: Node) -> bool:
        """Whether PACK node n's result is read only as B of one 2-D float matmul (B not a graph
        result), so that matmul's kernel can compute it while packing."""
        (v,) = n.outputs
        users = self.users.get(v, [])
        return len(users) == 1 and _packable(n, users, self.results)

    def merge_siblings(self) -> None:
        """Horizontal fusion: independent elementwise kernels over the same shape become one
        loop (e.g. several parameters' optimizer updates), and so do independent reduce kernels
        over the same shape and axes that read a common tensor (an observer's min and max of
        one tensor: one pass over it). Legal when neither kernel reaches the other in the kernel graph, so contracting
        them cannot make a cycle."""
        by_shape: dict[tuple, list[Group]] = {}
        for grp in self.groups:
            if grp.kind == "elementwise" and grp.nodes and grp.shape != () and len(grp.nodes) > 0:
                by_shape.setdefault((grp.kind, grp.shape), []).append(grp)
            elif grp.kind == "reduce" and grp.nodes:
                by_shape.setdefault((grp.kind, grp.shape, grp.axes, grp.rshape), []).append(grp)
        reach = None
        for (kind, shape, *_), grps in by_shape.items():
            merged: list[Group] = []
            for grp in grps:
                for base in merged:
                    if kind == "reduce" and not self._loop_inputs(base) & self._loop_inputs(grp):
                        continue  # only reductions of one tensor share a pass over it
                    reach = reach or _descendants(self.dag)
                    if reach[base.id] >> grp.id & 1 or reach[grp.id] >> base.id & 1:
                        continue
                    for n in grp.nodes:
                        base.nodes.append(n)
                        self.group_of[n] = base
                    base.reduced |= grp.reduced
                    for u, _ in list(self.dag.in_edges(grp.id)):
                        if u != base.id:
                            self.dag.add_edge(u, base.id)
                    for _, v in list(self.dag.out_edges(grp.id)):
                        if v != base.id:
                            self.dag.add_edge(base.id, v)
                    self.dag.remove_node(grp.id)
                    grp.nodes = []
                    reach = None  # the contraction changed what reaches what
                    self.why.append(f"k{grp.id} joins k{base.id}: independent {kind} kernels "
                                    f"over {list(shape)} run as one loop")
                    break
                else:
                    merged.append(grp)

    def _loop_inputs(self, grp: Group) -> set:
        """The full-shape values grp's loop reads from memory (produced outside it)."""
        mine = set(grp.nodes)
        return {v for n in grp.nodes for v in n.inputs
                if v.producer not in mine and v.shape == grp.shape}

    def settle(self, n: Node) -> None:
        """Give n's pending producers kernels before n gets one, so the DAG has their edges."""
        for v in n.inputs:
            if v.producer in self.pending:
                self.place(v.producer)

    def pull(self, grp: Group, n: Node) -> None:
        """Bring the pending producers of n into grp (or into kernels of their own) first."""
        for v in n.inputs:
            p = v.producer
            if p in self.pending:
                del self.pending[p]
                self.pull(grp, p)
                if self.fits(grp, p) is None and self.creates_cycle(grp, p) is None:
                    self.join(grp, p)
                else:
                    self.place(p)

    def place(self, n: Node, alone: str = "no producer kernel") -> None:
        """Put `n` in the first producer kernel it may join, else in a new kernel (why recorded)."""
        self.pending.pop(n, None)
        reasons = []
        seen = set()
        for v in n.inputs:
            grp = self.producer_group(v)
            if grp is None or grp.id in seen or grp.kind == "single":
                continue
            seen.add(grp.id)
            why = self.fits(grp, n)
            if why is None:
                h = self.creates_cycle(grp, n)
                if h is not None:
                    why = f"would make a cycle through k{h.id}"
            if why is None:
                self.pull(grp, n)
                h = self.creates_cycle(grp, n)  # a pulled producer may have landed after grp
                if h is None:
                    self.join(grp, n)
                    self.absorb(grp, n)
                    return
                why = f"would make a cycle through k{h.id}"
            reasons.append(f"not with k{grp.id} ({grp.kind}): {why}")
        shape = n.outputs[0].shape
        pending_inputs = [v.producer for v in n.inputs if v.producer in self.pending]
        if pending_inputs:  # start the kernel with what n reads, then add n
            grp = None
            for p in pending_inputs:
                if p not in self.pending:
                    continue
                if grp is None:
                    del self.pending[p]
                    self.pull_into_new(p, n)
                    grp = self.group_of[p]
            if grp is not None and self.fits(grp, n) is None and self.creates_cycle(grp, n) is None:
                self.pull(grp, n)
                if self.creates_cycle(grp, n) is None:
                    self.join(grp, n)
                    return
        self.settle(n)
        if _reduces(n):
            grp = self.new_group(n, "elementwise", n.inputs[0].shape,
                                 "; ".join(reasons) or alone)
            self._make_reduce(grp, n)
        else:
            self.new_group(n, "elementwise", shape, "; ".join(reasons) or alone)

    def absorb(self, grp: Group, n: Node) -> None:
        """n joined grp: the other elementwise kernels over grp's loop shape that feed n join it
        too (a gradient summed from two chains, such as cross-entropy's exp(x - lse) * g and
        its one-hot term, is then one loop, not a kernel writing a temporary for the next).
        Legal when no other path leads between the two kernels, so contracting them cannot make
        a cycle; matmul kernels keep their epilogue as it is."""
        if grp.kind not in ("elementwise", "reduce"):
            return
        for v in n.inputs:
            h = self.producer_group(v)
            if h is None or h is grp or h.kind != "elementwise" or h.shape != grp.shape \
                    or not h.nodes or nx.has_path(self.dag, grp.id, h.id) \
                    or any(s != grp.id and nx.has_path(self.dag, s, grp.id)
                           for s in self.dag.successors(h.id)) \
                    or self._reads_from_memory(grp, h):
                continue
            for m in h.nodes:
                grp.nodes.append(m)
                self.group_of[m] = grp
            for u, _ in list(self.dag.in_edges(h.id)):
                self.dag.add_edge(u, grp.id)
            for _, w in list(self.dag.out_edges(h.id)):
                if w != grp.id:
                    self.dag.add_edge(grp.id, w)
            self.dag.remove_node(h.id)
            h.nodes = []
            self.why.append(f"k{h.id} joins k{grp.id}: it only feeds "
                            f"{self.names.get(n.outputs[0], '?')} = {n.op} there")

    def _reads_from_memory(self, grp: Group, h: Group) -> bool:
        """A node of grp reads a value h computes from memory (a gather's table, a broadcast's
        operand): h must stay a kernel of its own, as fits() requires."""
        made = {v for m in h.nodes for v in m.outputs}
        return any(m.inputs and m.inputs[0] in made and (
            fusion_of(m) is Fusion.GATHER
            or (fusion_of(m) is Fusion.BROADCAST and m.inputs[0].shape != ()))
            for m in grp.nodes)

    def pull_into_new(self, p: Node, consumer: Node) -> None:
        """Place pending `p`, pulled by `consumer`, in its producers' kernel or a new one."""
        # p's own pending producers get kernels first (p joins theirs when it can), so every
        # edge into p's kernel exists before p is added
        self.place(p, f"reads only graph inputs and state (pulled by {consumer.op})")

    def join(self, grp: Group, n: Node) -> None:
        """Add `n` to `grp` (a sum/max makes it a reduce kernel; values after it are tracked)."""
        shape = n.outputs[0].shape
        if _reduces(n):
            self.add(grp, n)
            self._make_reduce(grp, n)
            return
        inner_reduced = any(v in grp.reduced for v in n.inputs)
        if grp.kind == "elementwise" and grp.shape == () and shape != ():
            grp.shape = shape
        self.add(grp, n)
        if grp.kind == "reduce" and (inner_reduced or (shape == grp.rshape and shape != grp.shape)):
            grp.reduced.add(n.outputs[0])

    def _make_reduce(self, grp: Group, n: Node) -> None:
        """Make `grp` a reduce kernel over n's operand shape and axes (REDUCE ops carry `axis`)."""
        x = n.inputs[0]
        grp.kind = "reduce"
        grp.shape = x.shape
        grp.axes = tuple(n.attrs.get("axis") or tuple(range(x.type.ndim)))
        grp.rshape = n.outputs[0].shape
        grp.reduced.add(n.outputs[0])


def _value_names(g: Graph) -> dict[Value, str]:
    names, k = {}, 0
    for v in g.inputs:
        names[v] = "%" + v.name
    for name, v in g.state.items():
        names[v] = "%" + name
    for n in g.nodes:
        for v in n.outputs:
            names[v] = f"%{k}"
            k += 1
    return names


def _build(g: Graph, groups: list[Group], dag: nx.DiGraph) -> Graph:
    out, vmap = copy_graph_header(g)
    used_outside: set[Value] = set(g.outputs) | set(g.updates.values())
    gid = {}
    for grp in groups:
        for n in grp.nodes:
            gid[n] = grp.id
    for n in g.nodes:
        for v in n.inputs:
            if v.producer is not None and gid.get(v.producer) != gid.get(n):
                used_outside.add(v)
    position = {n: i for i, n in enumerate(g.nodes)}
    groups_left = [grp for grp in groups if grp.nodes]  # horizontal fusion empties some
    first = {grp.id: min(position[n] for n in grp.nodes) for grp in groups_left}
    order = list(nx.lexicographical_topological_sort(dag, key=lambda i: first[i]))
    clones: dict[Value, Value] = {}

    def outer(v: Value) -> Value:
        if v not in vmap and _is_splat_const(v):  # a top-level copy of a scalar constant
            node = out.add_node(Node("constant", [], v.producer.attrs, [v.type], v.producer.loc))
            vmap[v] = clones[v] = node.outputs[0]
        return vmap[v]

    for i in order:
        grp = groups[i]
        members = set(grp.nodes)
        if len(grp.nodes) == 1 and not any(_is_splat_const(v) for v in grp.nodes[0].inputs) \
                or grp.kind == "single":
            n = grp.nodes[0]
            new = out.add_node(Node(n.op, [outer(v) for v in n.inputs], n.attrs,
                                    [v.type for v in n.outputs], n.loc))
            vmap.update(zip(n.outputs, new.outputs))
            continue
        body = Graph(f"k{sum(fusion_of(x) is Fusion.KERNEL for x in out.nodes)}_{grp.kind}")
        bmap: dict[Value, Value] = {}
        ext: list[Value] = []
        for n in sorted(grp.nodes, key=position.__getitem__):  # program order is topological
            for v in n.inputs:
                if v in bmap:
                    continue
                if v.producer in members:
                    continue
                if _is_splat_const(v):
                    c = body.add_node(Node("constant", [], v.producer.attrs, [v.type],
                                           v.producer.loc))
                    bmap[v] = c.outputs[0]
                else:
                    bmap[v] = body.add_input(f"in{len(ext)}", v.type)
                    ext.append(v)
            new = body.add_node(Node(n.op, [bmap[v] for v in n.inputs], n.attrs,
                                     [v.type for v in n.outputs], n.loc))
            bmap.update(zip(n.outputs, new.outputs))
        # reductions accumulate in memory: their results are kernel outputs (arena buffers)
        used_outside.update(n.outputs[0] for n in grp.nodes if _reduces(n))
        results = [v for n in sorted(grp.nodes, key=position.__getitem__) for v in n.outputs
                   if v in used_outside]
        if not results:  # a dead kernel: a node with no results could not even be printed
            continue
        body.outputs = [bmap[v] for v in results]
        body = dce(body)  # a merged sibling may carry nodes whose results nobody reads
        anchor = next((n for n in grp.nodes if fusion_of(n) in (Fusion.MATMUL, Fusion.REDUCE)),
                      grp.nodes[0])
        node = out.add_node(Node("fused", [outer(v) for v in ext],
                                 {"kind": grp.kind, "body": body},
                                 [v.type for v in results], anchor.loc))
        vmap.update(zip(results, node.outputs))
    for v in list(g.outputs) + list(g.updates.values()):
        outer(v)
    return finish(g, out, vmap)


def _packable(n: Node, users: list[Node], results) -> bool:
    """Whether PACK node n's result can be computed inside each of `users`' matmul kernels: it
    is 2-D float and not a graph result, and every user is a 2-D float matmul reading it only
    as B, stored as is or transposed (A then not transposed, of at least PACK_T_MIN_ROWS rows):
    a convolution's forward product W @ cols and its weight gradient g @ cols^T."""
    (v,) = n.outputs
    if v in results or v.type.ndim != 2 or not v.dtype.is_float \
            or n.inputs[0].type.size >= 1 << 31:   # the kernel indexes it with int32 lanes
        return False
    return all(fusion_of(mm) is Fusion.MATMUL and mm.inputs[1] is v and mm.inputs[0] is not v
               and len(mm.outputs) == 1 and mm.outputs[0].type.ndim == 2
               and mm.inputs[0].type.ndim == 2
               and not (mm.attrs.get("transpose_b") and (
                   mm.attrs.get("transpose_a") or mm.inputs[0].shape[0] < PACK_T_MIN_ROWS))
               for mm in users)


PACK_T_MIN_ROWS = 12   # a weight gradient of fewer output channels reads materialised columns:
                       # its panels are packed for too few rows (LeNet-5's 6-channel conv1: its
                       # step 3-5 % faster so, paired, Zen 5)


def one_pack_per_reader(g: Graph) -> Graph:
    """Each PACK node read by several matmuls that can all pack it (`_packable`) becomes one
    copy per reader, placed right before it: a training step's convolution columns are then
    computed from the image inside the forward matmul and again inside the weight gradient's,
    never materialised (two cheap passes over an image in cache instead of writing and reading
    back C*kh*kw times the image)."""
    users, results = g.users(), set(g.outputs) | set(g.updates.values())
    shared = {n for n in g.nodes if fusion_of(n) is Fusion.PACK and len(n.outputs) == 1
              and len(users.get(n.outputs[0], ())) > 1
              and _packable(n, users[n.outputs[0]], results)}
    if not shared:
        return g
    out, vmap = copy_graph_header(g)
    for node in g.nodes:
        if node in shared:
            continue
        p = node.inputs[1].producer if len(node.inputs) > 1 else None
        if fusion_of(node) is Fusion.MATMUL and p in shared:
            copy = out.add_node(Node(p.op, [vmap[v] for v in p.inputs], p.attrs,
                                     [v.type for v in p.outputs], p.loc))
            vmap[node.inputs[1]] = copy.outputs[0]
        ins = [vmap[v] for v in node.inputs]
        new = out.add_node(Node(node.op, ins, node.attrs, [v.type for v in node.outputs],
                                node.loc))
        vmap.update(zip(node.outputs, new.outputs))
    return finish(g, out, vmap)


def fuse(g: Graph) -> Graph:
    """Group the graph's ops into fused kernels (see the module docstring)."""
    if any(fusion_of(n) is Fusion.KERNEL for n in g.nodes):
        return g
    g = one_pack_per_reader(g)
    f = Fuser(g)
    groups = f.run()
    return _build(g, groups, f.dag)


def fusion_report(g: Graph) -> str:
    """Why each kernel boundary exists: one line per node that could not join a neighbour."""
    f = Fuser(one_pack_per_reader(g))
    f.run()
    kinds = {}
    real = [grp for grp in f.groups   # merged-away kernels are empty; views and constants run
            if any(fusion_of(n) not in NO_KERNEL for n in grp.nodes)]   # no code
    for grp in real:
        kinds[grp.kind] = kinds.get(grp.kind, 0) + 1
    head = f"# {len(real)} kernels: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return "\n".join([head] + f.why) + "\n"
