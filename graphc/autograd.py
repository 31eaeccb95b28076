"""Autograd's user side: no_grad, Tensor.backward() (traced and eager), autograd.grad, custom
Functions.

Inside a trace backward() differentiates nothing itself: it records a `grad` node, which the
autodiff pass (passes/autodiff.py) expands symbolically using each op's gradient rule. Eagerly,
ops on tensors requiring grad record TapeNodes (graphc/tensor.py); backward() turns the tape
into a Graph and calls the same `passes.autodiff.gradients`, then runs only the gradient nodes
on the interpreter's run_node, so eager and compiled gradients come from the same rules. This
module installs `Tensor.backward` (graphc.tensor does not import it: that would be a circle); the
grad mode (no_grad, enable_grad, is_grad_enabled) lives in graphc/grad_mode.py and is re-exported.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from .driver import tracing
from .errors import GraphcError
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled,  # noqa: F401
                        is_inference_mode_enabled, no_grad, set_grad_enabled)  # (re-exported)
from .ir.builder import Builder
from .ir.graph import Value
from .ir.ops import OPS, defvjp
from .tensor import Tensor, apply, lift
from .driver.tracing import user_loc, user_where

def _leaf_value(tr, t: Tensor) -> Value:
    return tr.current(t) if not t.is_traced else t._value


def _ancestors(v: Value) -> set[Value]:
    """Values v depends on through ops that pass gradients (stop_gradient and NONDIFF ops cut)."""
    from .ir.ops import NONDIFF
    seen, stack = set(), [v]
    while stack:
        x = stack.pop()
        if x not in seen:
            seen.add(x)
            p = x.producer
            if p is not None and OPS[p.op].vjp is not NONDIFF:
                stack.extend(p.inputs)
    return seen


def backward(y: Tensor, gradient=None, retain_graph: bool | None = None) -> None:
    """Record d(y)/d(leaf) for every leaf requiring grad that y depends on; accumulate into .grad.

    Inside a trace it records a `grad` node (expanded by the autodiff pass); eagerly it
    differentiates the recorded tape at once (see eager_gradients)."""
    if not y.is_traced:
        if tracing.current() is not None:
            raise GraphcError(f"backward() at {user_where()} on a tensor computed outside the "
                              "compiled function; compute the loss inside it")
        seed = _eager_seed(y, gradient)
        leaves, grads = eager_gradients([y], [seed], None, retain_graph=bool(retain_graph))
        _accumulate(leaves, grads)
        return
    tr = y._trace
    if isinstance(tr, tracing.BodyTrace):
        raise GraphcError(f"backward() inside a loop body (graphc.scan) at {user_where()}: call "
                          "it on the scan's results, after the loop")
    if not y.requires_grad:
        raise GraphcError(f"backward() on a tensor {y.type} that depends on no parameter requiring "
                          f"grad (at {user_where()}); was it computed under no_grad or from detach()?")
    if gradient is None:   # torch: any one-element output, not only 0-d ones
        if y.type.size != 1:
            raise GraphcError(f"backward() on a non-scalar tensor {y.type} needs gradient= of the "
                              f"same shape (at {user_where()}); or call it on a scalar, e.g. .sum()")
        seed = tr.builder.const(np.ones(y.shape), y.dtype, user_loc())
    else:
        g = gradient if isinstance(gradient, Tensor) else Tensor(gradient)
        if g.shape != y.shape:
            raise GraphcError(f"backward(): gradient {g.type} must have the shape of the output "
                              f"{y.type} (at {user_where()})")
        seed = lift(tr, g if g.dtype == y.dtype else g.to(y.dtype))
    reach = _ancestors(y._value)
    leaves = [t for t in tr.grad_leaves if t.requires_grad and _leaf_value(tr, t) in reach]
    if not leaves:
        raise GraphcError(f"backward() on {y.type} at {user_where()}: it depends on no tensor that "
                          "requires grad")
    node = tr.builder.emit_node("grad", y._value, seed, *[_leaf_value(tr, t) for t in leaves],
                                loc=user_loc())
    with no_grad():
        for t, v in zip(leaves, node.outputs):
            g = Tensor._symbolic(v, tr)
            t.grad = g if t.grad is None else t.grad + g


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None
                     ) -> None:
    """Fill `.grad` of every leaf requiring grad this tensor depends on (eagerly or traced)."""
    if create_graph:
        raise GraphcError("backward(create_graph=True): higher-order gradients are not supported")
    if inputs is not None:
        if self.is_traced:
            raise GraphcError("backward(inputs=...) is supported eagerly only")
        ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        leaves, grads = eager_gradients([self], [_eager_seed(self, gradient)], ins,
                                        retain_graph=bool(retain_graph))
        _accumulate(leaves, grads)
        return
    backward(self, gradient, retain_graph)


Tensor.backward = _tensor_backward   # installed here: graphc.tensor cannot import autograd


def Variable(data, requires_grad: bool = False, volatile: bool = False):  # noqa: N802
    """torch.autograd.Variable, the legacy wrapper: returns `data` as a tensor (itself when it is
    one), with `requires_grad` set when asked."""
    t = data if isinstance(data, Tensor) else Tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- eager autograd: the recorded tape becomes a graph, differentiated by passes.autodiff ----------

def _eager_seed(y: Tensor, gradient) -> np.ndarray:
    if not y.requires_grad:
        raise GraphcError(f"backward() on a tensor {y.type} that does not require grad (at "
                          f"{user_where()}): it depends on no tensor with requires_grad=True, or "
                          "was computed under no_grad or from detach(), or came out of a "
                          "graphc.compile'd model or function (compiled code returns values "
                          "without gradients: compile the whole training step, loss.backward() "
                          "and optimizer.step() included)")
    if gradient is None:   # torch: any one-element output, not only 0-d ones
        if y.type.size != 1:
            raise GraphcError(f"backward() on a non-scalar tensor {y.type} needs gradient= of the "
                              f"same shape (at {user_where()}); or call it on a scalar, e.g. .sum()")
        return np.ones(y.shape, y.dtype.np)
    g = gradient.numpy() if isinstance(gradient, Tensor) else np.asarray(gradient)
    if g.shape != y.shape:
        raise GraphcError(f"backward(): gradient {list(g.shape)} must have the shape of the output "
                          f"{y.type} (at {user_where()})")
    return np.ascontiguousarray(g, dtype=y.dtype.np) if g.ndim else g.astype(y.dtype.np)


_FREED = ("Trying to backward through the graph a second time (or to use its intermediate "
          "results after they were freed): the first backward() freed them. Specify "
          "retain_graph=True in the first backward() call (as in PyTorch) to backward twice")


def eager_gradients(outputs: list[Tensor], seeds: list[np.ndarray], inputs: list[Tensor] | None,
                    retain_graph: bool = False) -> tuple[list[Tensor], list[np.ndarray]]:
    """d(sum_i <seed_i, output_i>)/d(input) for concrete tensors, from the recorded tape.

    The TapeNodes the outputs depend on become one Graph (leaves and other operands are graph
    inputs, each node's recorded result its value), `passes.autodiff.gradients` appends the
    gradient nodes from the ops' vjp rules (the same as in compiled code), and only those run on
    the interpreter's run_node. A training loop records the same tape every step: the graph and
    its gradient nodes are cached by the tape's structure (ops, attrs, wiring, types), so a step
    only binds arrays and runs the gradient nodes. `inputs` None: every leaf requiring grad
    reached. Returns (the tensors differentiated, their gradient arrays)."""
    from .ir.interpreter import run_node
    from .tensor import _type_of
    recs, stack = {}, [y._node for y in outputs if y._node is not None]
    while stack:
        r = stack.pop()
        if id(r) in recs:
            continue
        if r.freed:
            raise GraphcError(f"{_FREED} (at {user_where()})")
        for t, version in r.versions:
            if t._version != version:
                raise GraphcError(
                    f"backward() at {user_where()}: a tensor {t.type} that the {r.op} op read "
                    "was modified by an in-place operation after it was used (its version is "
                    f"{t._version}, {version} when used), so its gradient would be wrong; as in "
                    "PyTorch, update it after backward() or use an out-of-place op (or .clone())")
        recs[id(r)] = r
        stack.extend(p for _, p, _ in r.inputs if p is not None)
    order = sorted(recs.values(), key=lambda r: r.seq)
    pos = {id(r): i for i, r in enumerate(order)}
    feeds: list[np.ndarray] = []   # graph inputs, in order
    leaf_at: dict = {}             # id(leaf) -> (feed index, leaf)
    specs = []
    for r in order:
        ops = []
        for leaf, parent, arr in r.inputs:
            if parent is not None:
                ops.append(("n", pos[id(parent)]))
            elif leaf is not None:
                hit = leaf_at.get(id(leaf))
                if hit is None:
                    hit = leaf_at[id(leaf)] = (len(feeds), leaf)
                    feeds.append(arr)
                ops.append(("i", hit[0]))
            else:
                ops.append(("i", len(feeds)))
                feeds.append(arr)
        specs.append((r.op, r.attrs, tuple(ops), r.type))
    if inputs is None:
        targets = [t for _, t in leaf_at.values()]
        targets += [y for y in outputs if y._node is None and y.requires_grad and
                    all(t is not y for t in targets)]
        targets += [t for r in order for t in [_retained(r)] if t is not None]  # retain_grad()
        if not targets:
            raise GraphcError(f"backward() at {user_where()}: the output depends on no tensor "
                              "that requires grad")
    else:
        targets = list(inputs)
    wrt = []
    for t in targets:
        if not isinstance(t, Tensor) or t.is_traced:
            raise GraphcError("autograd.grad: inputs must be concrete tensors")
        if t._node is not None and id(t._node) in pos:
            wrt.append(("n", pos[id(t._node)]))
        elif id(t) in leaf_at:
            wrt.append(("i", leaf_at[id(t)][0]))
        else:  # not reached from the outputs: a graph input of its own (its gradient is zero)
            wrt.append(("i", len(feeds)))
            feeds.append(t._data)
    ys = []
    for y in outputs:
        if y._node is not None:
            ys.append(("n", pos[id(y._node)]))
        else:
            ys.append(next((w for t, w in zip(targets, wrt) if t is y), None))
    feeds.extend(seeds)
    key = (tuple((op, id(OPS[op].vjp), tuple(sorted(at.items())), o, rt)  # a rule patched
                 for op, at, o, rt in specs),                                 # later: a new graph
           tuple(wrt), tuple(ys), tuple(_type_of(a) for a in feeds))
    try:
        entry = _BACKWARD_GRAPHS.get(key)
    except TypeError:  # an unhashable attr (a constant's array): build without caching
        entry, key = None, None
    if entry is None:
        entry = _backward_graph(specs, wrt, ys, [_type_of(a) for a in feeds], len(seeds))
        if key is not None and not any(op == "custom_vjp" for op, *_ in specs):
            if len(_BACKWARD_GRAPHS) >= 64:
                _BACKWARD_GRAPHS.pop(next(iter(_BACKWARD_GRAPHS)))
            _BACKWARD_GRAPHS[key] = entry
    g, fwd_vals, total, n_forward = entry
    env = dict(zip(g.inputs, feeds))
    for v, r in zip(fwd_vals, order):
        env[v] = r.out
    for node in g.nodes[n_forward:]:
        for v, res in zip(node.outputs, run_node(node, [env[x] for x in node.inputs])):
            env[v] = res
    # a gradient may alias an operand, a recorded result or the seed (vjp rules return views,
    # `add`'s rule returns g itself): copy those, and non-contiguous ones; fresh arrays are kept
    protected = {id(_root(a)) for a in feeds} | {id(_root(r.out)) for r in order}
    grads = []
    for v in total:
        a = env[v]
        if not a.flags.c_contiguous or id(_root(a)) in protected:
            a = a.copy()
        grads.append(a)
    if not retain_graph:
        for r in order:
            r.freed = True
            r.inputs, r.out, r.versions = (), None, ()
            if r.op == "custom_vjp":
                _FUNCTIONS.pop(r.attrs["fn"], None)
    return targets, grads


RETAINED = weakref.WeakKeyDictionary()   # TapeNode -> weakref to its tensor (retain_grad())


def _retained(r):
    ref = RETAINED.get(r)
    t = ref() if ref is not None else None
    return t if t is not None and t._node is r else None


_BACKWARD_GRAPHS: dict = {}  # tape structure -> (graph, forward values, gradient values, n_forward)


def _backward_graph(specs, wrt, ys, feed_types, n_seeds):
    """The Graph of a recorded tape plus the gradient nodes of passes.autodiff.gradients."""
    from passes.autodiff import gradients
    from .ir.builder import Builder
    from .ir.graph import Graph, Node
    g = Graph("eager_backward")
    ins = [g.add_input(f"a{i}", t) for i, t in enumerate(feed_types)]
    fwd = []

    def val(ref):
        return fwd[ref[1]] if ref[0] == "n" else ins[ref[1]]
    for op, attrs, ops, rt in specs:
        node = g.add_node(Node(op, [val(o) for o in ops], attrs, [rt], None))
        fwd.append(node.outputs[0])
    n_forward = len(g.nodes)
    wrt_vals = [val(w) for w in wrt]
    seeds = ins[len(ins) - n_seeds:]
    total = None
    for y, sv in zip(ys, seeds):
        if y is None:
            continue
        gs = gradients(g, val(y), sv, wrt_vals)
        total = gs if total is None else [Builder(g).add(a, b) for a, b in zip(total, gs)]
    if total is None:
        total = [Builder(g).zeros(w.type) for w in wrt_vals]
    return g, fwd, total, n_forward


def _root(a: np.ndarray) -> np.ndarray:
    """The array owning `a`'s memory (following .base through views)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _accumulate(leaves: list[Tensor], grads: list[np.ndarray]) -> None:
    """leaf.grad += grad (in place when it already holds an array of that type), else set it."""
    for t, g in zip(leaves, grads):
        cur = t.grad
        if cur is None:
            t.grad = Tensor(g)
        elif isinstance(cur, Tensor) and not cur.is_traced and cur.shape == g.shape and \
                cur.dtype.np == g.dtype and cur._data.flags.writeable:
            np.add(cur._data, g, out=cur._data)
        else:
            with no_grad():
                t.grad = cur + Tensor(g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=False):
    """torch.autograd.grad, eagerly: the gradients of `outputs` w.r.t. `inputs` (no .grad set)."""
    if create_graph:
        raise GraphcError("autograd.grad(create_graph=True): higher-order gradients are not "
                          "supported")
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins_single = isinstance(inputs, Tensor)
    ins = [inputs] if ins_single else list(inputs)
    if any(o.is_traced for o in outs):
        raise GraphcError("autograd.grad inside graphc.compile is not supported yet; use "
                          "loss.backward() and .grad")
    if grad_outputs is None:
        grad_outputs = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    seeds = [_eager_seed(o, g) for o, g in zip(outs, grad_outputs)]
    used = _reached(outs)
    for i, t in enumerate(ins):
        if not allow_unused and id(t) not in used and (t._node is None or id(t._node) not in used):
            raise GraphcError(f"autograd.grad: input {i} ({t.type}) was not used to compute the "
                              "outputs; pass allow_unused=True to get None for it")
    _, grads = eager_gradients(outs, seeds, ins, retain_graph=bool(retain_graph))
    return tuple(Tensor(g) if id(t) in used or (t._node is not None and id(t._node) in used)
                 else None for t, g in zip(ins, grads))


def _reached(outputs) -> set[int]:
    """ids of the TapeNodes and leaf tensors the outputs were computed from."""
    seen: set[int] = {id(y) for y in outputs}
    stack = [y._node for y in outputs if y._node is not None]
    while stack:
        r = stack.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        for leaf, parent, _ in r.inputs or ():
            if leaf is not None:
                seen.add(id(leaf))
            if parent is not None:
                stack.append(parent)
    return seen


# ---- custom Functions with their own backward ---------------------------------------------------

class FunctionCtx:
    """The `ctx` of a custom Function: save tensors in forward, read them in backward."""

    def __init__(self):
        self._saved: tuple = ()
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors for backward; read them back there as `ctx.saved_tensors`."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to save_for_backward, in order."""
        return self._saved


_FUNCTIONS: dict[str, tuple[type, FunctionCtx, int]] = {}
_counter = itertools.count(1)


class Function:
    """A custom op with its own gradient, as torch.autograd.Function:

        class Square(graphc.autograd.Function):
            @staticmethod
            def forward(ctx, x): ctx.save_for_backward(x); return x * x
            @staticmethod
            def backward(ctx, g): (x,) = ctx.saved_tensors; return 2 * x * g
        y = Square.apply(x)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output from the inputs (runs under no_grad); subclasses override it."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        """Map the output's gradient to one gradient (or None) per forward input."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        """Run forward on `args`; inside a trace, record backward as the result's gradient rule."""
        ctx = FunctionCtx()
        tensors = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not any(t.requires_grad for t in tensors) or not is_grad_enabled():
            return out
        if not isinstance(out, Tensor):
            raise GraphcError(f"{cls.__name__}.forward must return one Tensor (got "
                              f"{type(out).__name__}); tuples of outputs are not supported yet")
        saved = [s for s in ctx._saved if isinstance(s, Tensor)]
        key = f"{cls.__name__}.{next(_counter)}"
        _FUNCTIONS[key] = (cls, ctx, args)
        res = apply("custom_vjp", out, *tensors, *saved, fn=key)
        if res._node is not None:  # eager: the rule lives as long as the recorded node
            weakref.finalize(res._node, _FUNCTIONS.pop, key, None)
        return res


def _custom_vjp_rule(b: Builder, g: Value, out: Value, *rest, fn: str):
    cls, ctx, args = _FUNCTIONS[fn]
    rest = rest[:-1]  # the last positional argument is the node's own result
    n_in = sum(isinstance(a, Tensor) for a in args)
    saved_vals = rest[n_in:]  # rest[:n_in] are the forward inputs
    tr = tracing.Trace.on(b.graph)
    with tracing.tracing(tr), no_grad():
        saved_iter = iter(saved_vals)
        ctx._saved = tuple(Tensor._symbolic(next(saved_iter), tr) if isinstance(s, Tensor) else s
                           for s in ctx._saved)
        grads = cls.backward(ctx, Tensor._symbolic(g, tr))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(args):
            raise GraphcError(f"{cls.__name__}.backward returned {len(grads)} gradients for "
                              f"{len(args)} forward inputs")
        cts = [None]  # the forward result itself gets no gradient through this node
        for a, gr in zip(args, grads):
            if isinstance(a, Tensor):
                cts.append(None if gr is None else lift(tr, gr if isinstance(gr, Tensor) else
                                                        Tensor(gr)))
    cts += [None] * len(saved_vals)
    return tuple(cts)


defvjp("custom_vjp", _custom_vjp_rule)
