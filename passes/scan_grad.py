"""The gradient of a `scan`: a reverse scan over the residuals the forward loop saves.

For a scan `carries', ys = scan(body, carries, xs, invariants)` and the cotangents of its
results, this module builds (as JAX's scan transpose does, with partial evaluation):

1. the joint body J: the body, then its vector-Jacobian product for one step (autodiff's own
   rules), with the cotangents of the step's new carries and results as extra inputs;
2. a split of J's nodes by what they depend on: *invariant* (only loop invariants and
   constants), *primal* (a carry or a sequence entry too) and *backward* (a cotangent);
3. the forward body: the primal and invariant nodes, also returning every primal value a
   backward node reads (the residuals, stacked by the loop like any per-step result); the scan
   node is changed in place to compute them (its old results keep their meaning);
4. the backward body: the backward nodes, carrying the carries' cotangents and a sum per
   invariant that needs a gradient, reading the residuals, the sequences and the cotangents of
   the per-step results entry by entry; invariant values it needs are recomputed in it (the
   loop-invariant hoisting pass then moves them out of the loop);
5. a weight gradient of the form matmul(aᵀ, b) of per-step values becomes one matmul of the
   stacked a and b after the loop (one (T·N)-row product instead of T small ones), and a sum
   over the batch of a per-step value one sum of the stacked values, instead of sums carried
   through the loop.
"""
from __future__ import annotations

from graphc.ir import Builder, Fusion, Graph, Node, Value, fusion_of
from graphc.ir.graph import tensor_type

INV, PRIM, BACK = 0, 1, 2


def scan_vjp(b: Builder, node: Node, g_outs: list, active: list[bool], backprop) -> list:
    """Cotangents of the scan node's operands (None where none flows), emitting the backward
    scan through `b`; `g_outs` are its results' cotangents (None: zero), `active[i]` whether
    operand i needs one, `backprop(graph, seeds, wrt, zeros=...)` autodiff's own engine."""
    body = node.attrs["body"]
    T, k, m = node.attrs["length"], node.attrs["n_carry"], node.attrs["n_xs"]
    n_in = len(body.inputs)
    c_in, x_in, k_in = body.inputs[:k], body.inputs[k:k + m], body.inputs[k + m:]
    fc = [i for i in range(k) if c_in[i].dtype.is_float]
    gy = [j for j, g in enumerate(g_outs[k:])
          if g is not None and body.outputs[k + j].dtype.is_float]
    want_x = [j for j in range(m) if active[k + j] and x_in[j].dtype.is_float]
    want_k = [j for j in range(n_in - k - m) if active[k + m + j] and k_in[j].dtype.is_float]

    # 1. the joint body: a copy of the body, then one step's vector-Jacobian product
    J = Graph("joint")
    vmap = {v: J.add_input(v.name, v.type) for v in body.inputs}
    for n in body.nodes:
        new = J.add_node(Node(n.op, [vmap[v] for v in n.inputs], n.attrs,
                              [v.type for v in n.outputs], n.loc))
        vmap.update(zip(n.outputs, new.outputs))
    outs = [vmap[v] for v in body.outputs]
    g_c = {i: J.add_input(f"gc{i}", c_in[i].type) for i in fc}
    g_y = {j: J.add_input(f"gy{j}", body.outputs[k + j].type) for j in gy}
    seeds: dict[Value, Value] = {}
    jb = Builder(J, node.loc)
    for v, s in [(outs[i], g_c[i]) for i in fc] + [(outs[k + j], g_y[j]) for j in gy]:
        seeds[v] = jb.add(seeds[v], s) if v in seeds else s
    J_in = J.inputs[:n_in]
    wrt = [J_in[i] for i in fc] + [J_in[k + j] for j in want_x] + [J_in[k + m + j] for j in want_k]
    cts = backprop(J, seeds, wrt, node.loc, zeros=False)
    ct_c = dict(zip(fc, cts[:len(fc)]))
    ct_x = dict(zip(want_x, cts[len(fc):len(fc) + len(want_x)]))
    ct_k = dict(zip(want_k, cts[len(fc) + len(want_x):]))

    # 2. what each of J's values depends on
    kind: dict[Value, int] = {}
    for i, v in enumerate(J_in):
        kind[v] = INV if i >= k + m else PRIM
    for v in list(g_c.values()) + list(g_y.values()):
        kind[v] = BACK
    for n in J.nodes:
        kk = max((kind[v] for v in n.inputs), default=INV)
        for o in n.outputs:
            kind[o] = kk

    # 5. (decided first: it changes what the backward body needs) weight gradients taken after
    # the loop from stacked per-step values
    after: dict[int, tuple] = {}
    for j, c in ct_k.items():
        p = c.producer if c is not None else None
        if p is None or kind[c] != BACK:
            continue
        if p.op == "matmul" and p.attrs.get("transpose_a") and not p.attrs.get("transpose_b") \
                and all(v.type.ndim == 2 and kind[v] != INV for v in p.inputs):
            after[j] = ("matmul", p.inputs[0], p.inputs[1])
        elif p.op == "sum" and p.inputs[0].type.ndim == c.type.ndim + 1 and \
                tuple(p.attrs.get("axis") or ()) == (0,) and not p.attrs.get("keepdims") and \
                kind[p.inputs[0]] != INV:
            after[j] = ("sum", p.inputs[0])

    # 4. the backward body: its inputs first (carries; residuals and cotangents of the results
    # as sequences; invariant inputs), then copies of the backward nodes the cotangents need
    roots = [c for c in list(ct_c.values()) + list(ct_x.values()) if c is not None]
    roots += [c for j, c in ct_k.items() if j not in after and c is not None]
    roots += [v for spec in after.values() for v in spec[1:] if kind[v] == BACK]
    back_nodes = _needed(roots, kind)
    residuals: list[Value] = []      # primal values of J the backward body reads per step
    consts: list[Value] = []         # invariant inputs of J it reads
    for n in J.nodes:
        if n in back_nodes:
            for v in n.inputs:
                _collect(v, kind, residuals, consts)
    for v in roots:   # a cotangent may be a primal or invariant value itself
        _collect(v, kind, residuals, consts)
    BB = Graph("body_grad")
    bmap: dict[Value, Value] = {}
    for i in fc:
        bmap[g_c[i]] = BB.add_input(f"c{len(bmap)}", c_in[i].type)
    acc_in = {j: BB.add_input(f"c{len(fc) + q}", k_in[j].type)
              for q, j in enumerate(j for j in want_k if j not in after and ct_k[j] is not None)}
    for v in residuals:
        bmap[v] = BB.add_input(f"x{len(BB.inputs) - len(fc) - len(acc_in)}", v.type)
    for j in gy:
        bmap[g_y[j]] = BB.add_input(f"x{len(BB.inputs) - len(fc) - len(acc_in)}", g_y[j].type)
    for q, v in enumerate(consts):
        bmap[v] = BB.add_input(f"k{q}", v.type)

    def get(v: Value) -> Value:
        """v's value in the backward body; an invariant or pointwise value is recomputed."""
        if v not in bmap:
            n = v.producer
            new = BB.add_node(Node(n.op, [get(u) for u in n.inputs], n.attrs,
                                   [u.type for u in n.outputs], n.loc))
            bmap.update(zip(n.outputs, new.outputs))
        return bmap[v]

    for n in J.nodes:
        if n in back_nodes:
            new = BB.add_node(Node(n.op, [get(v) for v in n.inputs], n.attrs,
                                   [v.type for v in n.outputs], n.loc))
            bmap.update(zip(n.outputs, new.outputs))
    bb = Builder(BB, node.loc)
    new_carries = [get(ct_c[i]) if ct_c[i] is not None else bb.zeros(c_in[i].type) for i in fc]
    for j, a in acc_in.items():
        new_carries.append(bb.add(a, get(ct_k[j])))
    stacked_back = list(dict.fromkeys(v for spec in after.values() for v in spec[1:]
                                      if kind[v] == BACK))
    ys = [get(ct_x[j]) if ct_x[j] is not None else bb.zeros(x_in[j].type) for j in want_x]
    BB.outputs = new_carries + ys + [get(v) for v in stacked_back]

    # 3. the forward body, returning the residuals too; the scan node computes them in place
    after_prim = [v for spec in after.values() for v in spec[1:] if kind[v] == PRIM]
    res_stacked = _save_residuals(node, J, outs, list(dict.fromkeys(
        v for v in residuals + after_prim if v not in J_in[k:k + m])))
    outer_seq = {J_in[k + j]: node.inputs[k + j] for j in range(m)}

    def stacked(v: Value) -> Value:
        return outer_seq[v] if v in outer_seq else res_stacked[v]

    outer_of_const = {J_in[k + m + j]: node.inputs[k + m + j] for j in range(n_in - k - m)}
    inits = [g_outs[i] if g_outs[i] is not None else b.zeros(c_in[i].type) for i in fc]
    inits += [b.zeros(k_in[j].type) for j in acc_in]
    seqs = [stacked(v) for v in residuals] + [g_outs[k + j] for j in gy]
    bwd = b.emit_node("scan", *inits, *seqs, *[outer_of_const[v] for v in consts], body=BB,
                      length=T, n_carry=len(inits), n_xs=len(seqs),
                      reverse=not node.attrs.get("reverse", False))
    res = bwd.outputs
    stacked_of = {v: res[len(inits) + len(ys) + q] for q, v in enumerate(stacked_back)}

    def whole(v: Value) -> Value:
        """v stacked over the steps, flattened to (T*rows, cols)."""
        s = stacked_of[v] if v in stacked_of else stacked(v)
        return b.reshape(s, shape=(T * v.shape[0], *v.shape[1:]))

    out: list = [None] * len(node.inputs)
    for q, i in enumerate(fc):
        out[i] = res[q]
    for q, j in enumerate(acc_in):
        out[k + m + j] = res[len(fc) + q]
    for q, j in enumerate(want_x):
        out[k + j] = res[len(inits) + q]
    for j, spec in after.items():
        c = ct_k[j]
        if spec[0] == "matmul":
            out[k + m + j] = b.matmul(whole(spec[1]), whole(spec[2]), transpose_a=True,
                                      transpose_b=False)
        else:
            out[k + m + j] = b.sum(whole(spec[1]), axis=(0,), keepdims=False)
        assert out[k + m + j].type == c.type, (out[k + m + j].type, c.type)
    return out


def _needed(roots: list[Value], kind) -> set:
    """The backward nodes (of the joint body) the roots depend on."""
    need: set = set()
    stack, seen = list(roots), set()
    while stack:
        v = stack.pop()
        if v in seen or kind[v] != BACK or v.producer is None:
            continue
        seen.add(v)
        need.add(v.producer)
        stack.extend(v.producer.inputs)
    return need


def _collect(v: Value, kind, residuals: list, consts: list) -> None:
    """Note a value a backward node reads that the backward body does not compute.

    An invariant value is recomputed from the invariant inputs it reads; so is a primal value
    made by a pointwise op (the policy of AOTAutograd's partitioner: recomputing pointwise ops
    in the backward kernel costs less than the memory traffic of saving and reading back every
    intermediate); other primal values are residuals, saved per step by the forward loop."""
    stack, seen = [v], set()
    while stack:
        u = stack.pop()
        if u in seen or kind[u] == BACK:
            continue
        seen.add(u)
        p = u.producer
        if p is None:
            if kind[u] == INV:
                if u not in consts:
                    consts.append(u)
            elif u not in residuals:
                residuals.append(u)
        elif kind[u] == INV or (len(p.outputs) == 1 and fusion_of(p) in _RECOMPUTED):
            stack.extend(p.inputs)
        elif u not in residuals:
            residuals.append(u)


_RECOMPUTED = (Fusion.ELEMENTWISE, Fusion.BROADCAST, Fusion.SOURCE)


def _save_residuals(node: Node, J: Graph, outs: list[Value], saved: list[Value]) -> dict:
    """Make the scan node's body J's primal part returning `saved` per step too; the node gets
    one more (stacked) result per saved value. Returns saved value -> its stacked result."""
    T = node.attrs["length"]
    fb_roots = list(outs) + saved
    keep: set = set()
    stack = list(fb_roots)
    while stack:
        v = stack.pop()
        if v.producer is None or v.producer in keep:
            continue
        keep.add(v.producer)
        stack.extend(v.producer.inputs)
    FB = Graph(node.attrs["body"].name, list(J.inputs[:len(node.inputs)]), {},
               [n for n in J.nodes if n in keep], fb_roots)
    node.attrs["body"] = FB
    result = {}
    for v in saved:
        r = Value(tensor_type((T, *v.shape), v.dtype), None, node, len(node.outputs))
        node.outputs.append(r)
        result[v] = r
    return result
