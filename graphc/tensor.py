"""graphc.Tensor: concrete (eager, holds a NumPy array) or symbolic (a Value in the active trace).

Every operation goes through `apply(op, ...)`: inside `graphc.compile` it appends a node to the
trace; outside it calls the op's shape rule (`OPS[op].result_types`) and NumPy reference directly
(casting results as the interpreter does), so eager and compiled code share one set of shape rules
and one set of NumPy references. Eagerly, an op on tensors requiring grad (with grad enabled)
also records a `TapeNode` (op, operands, attrs, result) in the result's `grad_fn`: backward()
(graphc/autograd.py) turns the recorded nodes into a Graph and differentiates it with the same
gradient rules as compiled code (passes.autodiff.gradients).
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import dtypes
from .driver import tracing
from .dtypes import DType
from .errors import GraphcError, InputError, ShapeError, TraceError
from .grad_mode import is_grad_enabled
import itertools

from .ir.builder import weak_scalar_dtype
from .ir.graph import TensorType, Value
from .ir.ops import OPS, Fusion
from .driver.tracing import control_flow_error, user_loc

Number = (bool, int, float, np.number, np.bool_)


class Size(tuple):
    """torch.Size: a tuple of dimension sizes (Tensor.size()), with numel()."""

    def numel(self) -> int:
        """The number of elements a tensor of this size holds."""
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"graphc.Size({list(self)})"


class Tensor:
    """A tensor as in PyTorch: operators, torch-named methods, `.grad`, `.requires_grad`."""

    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator
    __slots__ = ("_data", "_value", "_trace", "requires_grad", "grad", "_stop", "_node", "_base",
                 "_version", "__weakref__")
    _is_state = False       # Parameters and buffers: graph state inside a trace
    _state_hint = "tensor"  # the state name of a plain requires-grad tensor a trace reads

    def __init__(self, data: Any = (), *sizes, dtype=None, requires_grad: bool = False):
        if sizes or dtype is None and _legacy_sizes(data):
            # torch.Tensor(4, 3) / torch.Tensor(5): sizes, float32 (uninitialised in torch;
            # zeros here)
            shape = (data,) + sizes if not isinstance(data, (tuple, list)) else tuple(data)
            if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                       for n in shape):
                raise GraphcError(f"Tensor(*sizes): sizes must be ints, got {shape!r}")
            data, dtype = np.zeros(shape, np.float32), None
        elif dtype is None and not isinstance(data, (np.ndarray, np.generic, Tensor)):
            # torch.Tensor([0]): the legacy constructor makes float32 from Python data (NumPy
            # arrays keep their dtype here: graphc's own code wraps them with it)
            data = np.asarray(data, np.float32)
        self._data = as_array(data, dtype)
        self._value: Value | None = None
        self._trace = None
        if requires_grad and not self._data.dtype.kind == "f":
            raise GraphcError(f"only floating-point tensors can require gradients, not "
                              f"{self._data.dtype} (at {tracing.user_where()})")
        self.requires_grad = requires_grad
        self.grad = None
        self._stop = None
        self._node = None   # the TapeNode that computed it (eager autograd), None for leaves
        self._version = 0   # eager in-place updates so far (a recorded operand must not change)
        self._base = None   # for `.data` of a traced tensor: the tensor in-place updates also update

    @classmethod
    def _symbolic(cls, value: Value, trace, requires_grad: bool = False) -> "Tensor":
        t = cls.__new__(cls)
        t._data, t._value, t._trace = None, value, trace
        t.requires_grad, t.grad, t._stop = requires_grad, None, None
        t._node = t._base = None
        t._version = 0
        return t

    @classmethod
    def _wrap(cls, arr: np.ndarray) -> "Tensor":
        """A concrete tensor on `arr` as is (no conversion, no checks): the eager fast path."""
        t = Tensor.__new__(Tensor)
        t._data, t._value, t._trace = arr, None, None
        t.requires_grad, t.grad, t._stop, t._node, t._base = False, None, None, None, None
        t._version = 0
        return t

    # ---- what it is ----------------------------------------------------------------------------
    @property
    def is_traced(self) -> bool:
        """True while this tensor stands for a value in a trace (no data yet)."""
        return self._value is not None

    @property
    def type(self) -> TensorType:
        """The tensor's TensorType: its shape and dtype."""
        if self._value is not None:
            return self._value.type
        return _type_of(self._data)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, as a tuple of ints."""
        return self._data.shape if self._value is None else self._value.type.shape

    @property
    def dtype(self) -> DType:
        """The element type, a graphc DType."""
        return _type_of(self._data).dtype if self._value is None else self._value.type.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim if self._value is None else len(self._value.type.shape)

    def dim(self) -> int:
        """The number of dimensions (torch's Tensor.dim())."""
        return self.ndim

    def size(self, dim: int | None = None):
        """The shape (a graphc.Size: a tuple with numel()), or the size of dimension `dim`."""
        return Size(self.shape) if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The total number of elements."""
        return self.type.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    __hash__ = object.__hash__

    def __getattr__(self, name: str):  # only for names Tensor lacks: a torch method graphc lacks
        from .unsupported import missing_method
        raise missing_method(self, name)

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions (np.sum(t), np.mean(t, axis=0)) compute on the arrays, as np.exp(t)
        does, rather than calling the torch-named method with NumPy's keywords (axis=, out=)."""
        from .unsupported import numpy_args
        return func(*numpy_args(args), **numpy_args(kwargs))

    # ---- leaving the tensor world ----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (concrete tensors only; shares memory)."""
        if self._value is not None:
            raise control_flow_error("numpy()", self)
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            if copy is False:
                raise ValueError(f"cannot view a {a.dtype} tensor as {np.dtype(dtype)} without "
                                 "a copy")
            return a.astype(dtype)
        return a.copy() if copy else a  # np.array(t) copies (copy=True), np.asarray(t) shares

    def item(self):
        """The value of a one-element tensor as a Python number (concrete tensors only)."""
        if self._value is not None:
            raise control_flow_error("item()", self)
        return self._data.item()

    def tolist(self):
        """The data as (nested) Python lists (concrete tensors only)."""
        return self.numpy().tolist()

    def __bool__(self):
        if self._value is not None:
            raise control_flow_error("Using as a Python bool (if/while/and/or)", self)
        if self._data.size != 1:
            many = "no values" if self._data.size == 0 else "more than one value"
            raise ShapeError(f"Boolean value of Tensor with {many} is ambiguous (shape "
                             f"{list(self._data.shape)}, at {tracing.user_where()})")
        return bool(self._data.reshape(())[()])

    def __float__(self):
        if self._value is not None:
            raise control_flow_error("float()", self)
        return float(self._one_element("float()"))

    def __int__(self):
        if self._value is not None:
            raise control_flow_error("int()", self)
        return int(self._one_element("int()"))

    def __index__(self):
        if self._value is not None:
            raise control_flow_error("Using as a Python index", self)
        return self._one_element("index").__index__()

    def _one_element(self, what: str):
        """The single element as a NumPy scalar (any number of dims of size 1, as torch)."""
        if self._data.size != 1:
            raise ShapeError(f"{what}: only one element tensors can be converted to Python "
                             f"scalars, got shape {list(self._data.shape)} (at {tracing.user_where()})")
        return self._data.reshape(())[()]

    def __repr__(self) -> str:
        if self._value is not None:
            v = self._value
            src = f" from {v.producer.op}" + (f" at {v.producer.loc}" if v.producer.loc else "") \
                if v.producer else f" %{v.name}"
            return f"Tensor(traced {v.type}{src})"
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = [] if self.dtype in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_) \
            else [f"dtype={self.dtype!r}"]  # as torch: the default dtypes go unsaid
        if self._node is not None:
            extra.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ---- autograd-facing helpers (the autodiff itself lives in passes/autodiff.py) --------------
    @property
    def is_leaf(self) -> bool:
        """True unless the tensor was computed (with grad enabled) from tensors requiring grad."""
        if self._value is not None:
            return not self.requires_grad or any(t is self for t in self._trace.grad_leaves)
        return self._node is None

    @property
    def grad_fn(self):
        """The recorded op that computed this tensor (eagerly), or None for a leaf."""
        if self._value is not None:
            return None if self.is_leaf else _TracedGradFn(self._value)
        return self._node

    def _trainable(self) -> bool:
        """A concrete leaf requiring grad: inside a trace it is state, like a Parameter."""
        return self.requires_grad and self._node is None and self._value is None

    def detach(self) -> "Tensor":
        """The same values, cut off from gradient computation."""
        if self._value is None and tracing.current() is None:
            return Tensor._wrap(self._data)
        out = apply("stop_gradient", self)
        out.requires_grad, out._stop = False, None
        return out

    def clone(self) -> "Tensor":
        """A new tensor object with the same values (in-place updates of one leave the other)."""
        tr = tracing.current()
        if self._value is not None:
            return Tensor._symbolic(self._value, self._trace, self.requires_grad)
        if tr is not None:
            return Tensor._symbolic(lift(tr, self), tr, self.requires_grad)
        if self.requires_grad and is_grad_enabled():   # a recorded copy: gradients flow back
            return apply("cast", self, dtype=self.dtype)
        return Tensor(self._data.copy())

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Set `requires_grad` in place (floating-point tensors only); returns self."""
        if flag and not self.dtype.is_float:
            raise GraphcError(f"only floating-point tensors can require gradients, not {self.dtype}")
        if not flag and self._value is None and self._node is not None:
            raise GraphcError("requires_grad_(False) on a tensor computed from tensors requiring "
                              f"grad (at {tracing.user_where()}); use detach() instead")
        self.requires_grad = flag
        if flag and self._value is not None and \
                not any(t is self for t in self._trace.grad_leaves):
            self._trace.grad_leaves.append(self)
        return self

    # backward(gradient=None) is installed by graphc/autograd.py, which builds on this module

    @property
    def data(self) -> "Tensor":
        """The same values, detached from gradient computation, sharing memory (as in PyTorch):
        in-place ops on it update this tensor. Inside a trace a tensor that is state (a plain
        requires-grad tensor the step reads) is returned itself, so `t.data.add_(...)` updates it."""
        if self._value is not None:
            out = self.detach()
            out._base = self
            return out
        if self._node is None and self.requires_grad and tracing.current() is not None:
            return self
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        """Make this tensor hold `value` (eagerly: rebinds its array, as in PyTorch)."""
        tr = tracing.current()
        if tr is not None and (self._value is not None or self._trainable()):
            self._assign(value)
            return
        if isinstance(value, Tensor) and value._value is not None:
            raise TraceError(f"a traced tensor was assigned to .data outside its compiled function "
                             f"(at {tracing.user_where()})")
        self._data = contiguous(as_array(value))

    # ---- in-place updates (PyTorch's trailing-underscore methods) --------------------------------
    def _assign(self, new) -> "Tensor":
        """Make this tensor hold `new` (cast and broadcast to its dtype and shape), in place."""
        new = new if isinstance(new, Tensor) else Tensor(as_array(new, self.dtype))
        if new.dtype != self.dtype:
            new = apply("cast", new, dtype=self.dtype)
        if new.shape != self.shape:
            new = apply("broadcast", new, shape=self.shape)
        tr = tracing.current()
        if tr is None:
            if self._value is not None or new._value is not None:
                raise TraceError(f"in-place update of a traced tensor outside its compiled function "
                                 f"(at {tracing.user_where()})")
            if (new.requires_grad or self.requires_grad) and is_grad_enabled() and \
                    not self._is_state:
                if self.requires_grad and self._node is None:
                    raise GraphcError(
                        f"in-place update of a leaf tensor that requires grad at "
                        f"{tracing.user_where()}: wrap it in `with graphc.no_grad():` (as PyTorch "
                        "requires), e.g. for a manual SGD step")
                # recorded: this tensor now stands for the new value (and its tape node)
                self._data, self._node = new._data, new._node
                self.requires_grad = new.requires_grad
                return self
            np.copyto(self._data, new._data)
            self._version += 1
            return self
        if self._value is not None:
            self._value, self._stop = lift(tr, new), new._stop
            self.requires_grad = new.requires_grad
            if self._base is not None:  # `.data` of a traced tensor: update the tensor too
                self._base._assign(new)
        elif self._is_state or self._trainable():
            tr.assign(self, lift(tr, new))
        else:
            raise TraceError(f"in-place update of a tensor created outside the compiled function "
                             f"({self.type}) at {tracing.user_where()}: only parameters, buffers, "
                             "optimizer state and tensors created inside can be updated")
        return self

    def _become(self, new: "Tensor", what: str) -> "Tensor":
        """In place, for the ops that change a tensor's shape or cut its history (unsqueeze_,
        t_, detach_): this tensor object now stands for `new`, shape and gradient history
        included. Parameters, buffers and optimizer state keep their shape (torch refuses to
        reshape a leaf requiring grad in place too)."""
        if self._is_state or (self.requires_grad and self._node is None and what != "detach_"
                              and not self.is_traced):
            raise GraphcError(f"{what}() of a parameter, buffer or leaf tensor requiring grad "
                              f"at {tracing.user_where()}: use the out-of-place form")
        if self._value is not None:
            self._value, self._stop = new._value, new._stop
        elif tracing.current() is not None and new._value is not None:
            raise TraceError(f"{what}() of a tensor created outside the compiled function at "
                             f"{tracing.user_where()}: use the out-of-place form")
        else:   # the values are not written: arrays the tape saved stay as they were
            self._data, self._node = new._data, new._node
        self.requires_grad = new.requires_grad
        return self

    def unsqueeze_(self, dim: int) -> "Tensor":
        """In place: self = self.unsqueeze(dim); returns self."""
        return self._become(self.unsqueeze(dim), "unsqueeze_")

    def squeeze_(self, dim=None) -> "Tensor":
        """In place: self = self.squeeze(dim); returns self."""
        return self._become(self.squeeze() if dim is None else self.squeeze(dim), "squeeze_")

    def t_(self) -> "Tensor":
        """In place: self = self.t(); returns self."""
        return self._become(self.t(), "t_")

    def transpose_(self, dim0: int, dim1: int) -> "Tensor":
        """In place: self = self.transpose(dim0, dim1); returns self."""
        return self._become(self.transpose(dim0, dim1), "transpose_")

    def detach_(self) -> "Tensor":
        """In place: cut this tensor from the graph that computed it (a leaf not requiring
        grad, truncated backpropagation's `h.detach_()`); returns self."""
        return self._become(self.detach(), "detach_")

    def add_(self, other, alpha=1) -> "Tensor":
        """In place: self += alpha * other; returns self."""
        return self._assign(self.add(other, alpha=alpha))

    def sub_(self, other, alpha=1) -> "Tensor":
        """In place: self -= alpha * other; returns self."""
        return self._assign(self.sub(other, alpha=alpha))

    def mul_(self, other) -> "Tensor":
        """In place: self *= other; returns self."""
        return self._assign(self * other)

    def div_(self, other) -> "Tensor":
        """In place: self /= other; returns self."""
        return self._assign(self / other)

    def addcmul_(self, t1, t2, value=1) -> "Tensor":
        """In place: self += value * t1 * t2; returns self."""
        return self._assign(self.addcmul(t1, t2, value=value))

    def addcdiv_(self, t1, t2, value=1) -> "Tensor":
        """In place: self += value * t1 / t2; returns self."""
        return self._assign(self.addcdiv(t1, t2, value=value))

    def lerp_(self, end, weight) -> "Tensor":
        """In place: self += weight * (end - self); returns self."""
        return self._assign(self.lerp(end, weight))

    def copy_(self, src) -> "Tensor":
        """In place: copy src into self (cast and broadcast to self's type); returns self."""
        return self._assign(src)

    # zero_() and fill_(value) are compositions: functions.py installs them (with full_like)

    def clamp_(self, min=None, max=None) -> "Tensor":  # noqa: A002
        """In place: clamp self into [min, max]; returns self."""
        return self._assign(self.clamp(min, max))

    def sqrt_(self) -> "Tensor":
        """In place: self = sqrt(self); returns self."""
        return self._assign(self.sqrt())

    def neg_(self) -> "Tensor":
        """In place: self = -self; returns self."""
        return self._assign(-self)

    __iadd__ = lambda self, o: self.add_(o)  # noqa: E731  (x += y is in place, as in torch)
    __isub__ = lambda self, o: self.sub_(o)  # noqa: E731
    __imul__ = lambda self, o: self.mul_(o)  # noqa: E731
    __itruediv__ = lambda self, o: self.div_(o)  # noqa: E731

    # ---- their out-of-place forms ------------------------------------------------------------------
    def add(self, other, alpha=1) -> "Tensor":
        """self + alpha * other."""
        return self + (other if _is_one(alpha) else other * alpha)

    def sub(self, other, alpha=1) -> "Tensor":
        """self - alpha * other."""
        return self - (other if _is_one(alpha) else other * alpha)

    def mul(self, other) -> "Tensor":
        """self * other."""
        return self * other

    def div(self, other) -> "Tensor":
        """self / other (true division: integer tensors are divided in float32)."""
        return self / other

    def addcmul(self, t1, t2, value=1) -> "Tensor":
        """self + value * t1 * t2."""
        prod = t1 * t2
        return self + (prod if _is_one(value) else prod * value)

    def addcdiv(self, t1, t2, value=1) -> "Tensor":
        """self + value * t1 / t2."""
        q = t1 / t2
        return self + (q if _is_one(value) else q * value)

    def lerp(self, end, weight) -> "Tensor":
        """Linear interpolation: self + weight * (end - self)."""
        return self + (end - self) * weight


def contiguous(a: np.ndarray) -> np.ndarray:
    """`a` itself if C-contiguous, else a copy (np.ascontiguousarray would turn 0-d into 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def as_array(data: Any, dtype=None) -> np.ndarray:
    """Convert user data to a NumPy array; Python floats default to float32 as in PyTorch."""
    if isinstance(data, Tensor):
        data = data.numpy()
    dt = dtypes.as_dtype(dtype).np if dtype is not None else None
    try:
        if dt is None and not isinstance(data, (np.ndarray, np.generic)):
            arr = np.asarray(data)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
        else:
            arr = np.asarray(data, dtype=dt)
    except (TypeError, ValueError) as e:  # ragged lists, strings that are not numbers, ...
        raise InputError(f"cannot make a tensor from {type(data).__name__}: {e} "
                         f"(at {tracing.user_where()})") from None
    try:
        dtypes.from_numpy(arr.dtype)
    except KeyError as e:
        raise InputError(f"cannot make a tensor from {type(data).__name__}: {e.args[0]} "
                         f"(at {tracing.user_where()})") from None
    return arr


# ---- one entry point for every op ------------------------------------------------------------------

def apply(op: str, *args: Any, **attrs: Any) -> Tensor:
    """Run primitive `op` on tensors/numbers: traced inside graphc.compile, interpreted outside."""
    tr = tracing.current()
    if tr is None:
        return _eager(op, args, attrs)
    grad_on = is_grad_enabled()
    vals = [lift(tr, a, grad_on) for a in args]
    v = tr.builder.emit(op, *vals, loc=user_loc(), **attrs)
    needs = any(isinstance(a, Tensor) and a.requires_grad for a in args)
    out = Tensor._symbolic(v, tr, requires_grad=grad_on and needs and v.dtype.is_float)
    if not grad_on and (needs or any(isinstance(a, Tensor) and a._stop is not None
                                     for a in args)):
        out._stop = True  # computed under no_grad: cut gradients if it is used with grad enabled
    return out


def lift(tr, a: Any, grad_on: bool = False):
    """The trace-side form of an operand: a Value, or a Python number left for weak typing."""
    if isinstance(a, Tensor):
        if a._value is not None:
            if a._trace is not tr and isinstance(tr, tracing.BodyTrace):
                v = tr.value_of(a)   # a value from before a loop: the loop body's input
                if a._stop is not None and grad_on:   # made under no_grad
                    v = tr.builder.emit("stop_gradient", v, loc=user_loc())
                return v
            if a._trace is not tr:
                raise TraceError(
                    f"a traced tensor ({a.type}) from another trace was used at "
                    f"{tracing.user_where()}: a traced tensor cannot escape its compiled "
                    "function (e.g. stored in a global or attribute); return it instead")
            if a._stop is True and grad_on:  # made under no_grad, now used with grad enabled
                a._stop = tr.builder.emit("stop_gradient", a._value, loc=user_loc())
            return a._stop if isinstance(a._stop, Value) and grad_on else a._value
        if a._is_state or (a.requires_grad and a._node is None):  # a Parameter, a buffer, or a
            return tr.current(a)           # plain tensor requiring grad: state of the graph
        return tr.constant(a._data)
    if isinstance(a, Number):
        return a
    if isinstance(a, (np.ndarray, list, tuple)):
        return tr.constant(as_array(a))
    raise TraceError(f"cannot use a {type(a).__name__} as a tensor operand at {tracing.user_where()}")


class TapeNode:
    """One eagerly recorded op (a tensor's `grad_fn`): what backward() rebuilds as a graph node.

    `inputs` holds, per operand, (leaf tensor requiring grad or None, the operand's TapeNode or
    None, the operand's array as used); `out` is the result array and `type` its TensorType.
    """

    __slots__ = ("op", "attrs", "inputs", "out", "type", "seq", "freed", "versions", "__weakref__")

    def __init__(self, op, attrs, inputs, out, type_, versions=()):
        self.op, self.attrs, self.inputs, self.out, self.type = op, attrs, inputs, out, type_
        self.seq = next(_seq)
        self.freed = False
        self.versions = versions  # (operand tensor, its _version when recorded), ...

    def name(self) -> str:
        """PyTorch-style name of the backward function, e.g. `MatmulBackward`."""
        return "".join(w.capitalize() for w in self.op.split("_")) + "Backward"

    @property
    def next_functions(self) -> tuple:
        """((TapeNode or None, 0), ...) per operand, as torch's grad_fn.next_functions."""
        return tuple((p, 0) for _, p, _ in (self.inputs or ()))

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class _TracedGradFn:
    """grad_fn of a traced non-leaf tensor: names the producing op."""

    def __init__(self, value: Value):
        self.op = value.producer.op if value.producer is not None else "input"

    def name(self) -> str:
        """PyTorch-style name of the backward function, e.g. `MatmulBackward`."""
        return "".join(w.capitalize() for w in self.op.split("_")) + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


_seq = itertools.count()
_from_np = dtypes._BY_NP
_types: dict = {}  # (shape, numpy dtype) -> TensorType: eager ops reuse the frozen types


def _type_of(arr: np.ndarray) -> TensorType:
    key = (arr.shape, arr.dtype)
    t = _types.get(key)
    if t is None:
        try:
            dt = _from_np[arr.dtype]
        except KeyError:
            dt = dtypes.from_numpy(arr.dtype)  # the named error
        t = TensorType(arr.shape, dt)
        if len(_types) < 4096:
            _types[key] = t
    return t


_rules: dict = {}  # (op, operand shapes and dtypes, attrs) -> result TensorType
_promoted: dict = {}  # operand NumPy dtypes -> their promoted DType (next to Python numbers)


def _result_type(op, opdef, arrays, attrs) -> TensorType:
    """The op's result type from its shape rule; errors worded as Builder.emit_node's."""
    types = [_type_of(x) for x in arrays]
    try:
        out_types = opdef.result_types(types, attrs)
    except (ShapeError, KeyError, TypeError) as e:
        loc = user_loc()
        where = f" at {loc}" if loc else ""
        what = e if isinstance(e, ShapeError) else f"bad or missing attribute {e}"
        types_s = ", ".join(str(t) for t in types) or "no operands"
        raise ShapeError(f"{op}: {what} (operands: {types_s}){where}") from None
    if len(out_types) != 1:
        raise GraphcError(f"{op} has {len(out_types)} results; eager mode runs single-result ops")
    return out_types[0]


_NOT_EAGER = frozenset({Fusion.KERNEL, Fusion.MARKER})  # graph-only ops (fused kernels, grad)


def _eager(op: str, args, attrs) -> Tensor:
    """Run one op on concrete operands: its shape rule, its NumPy reference, results cast to the
    rule's dtype (as graphc.ir.interpreter.run_node); record a TapeNode if it needs a gradient."""
    arrays = []
    record = False
    numbers = has_float = False
    for a in args:
        if isinstance(a, Tensor):
            if a._value is not None:
                raise TraceError(f"a traced tensor ({a.type}) was used outside its compiled "
                                 f"function at {tracing.user_where()}; return it from the "
                                 "function instead")
            arrays.append(a._data)
            if a.requires_grad:
                record = True
        elif isinstance(a, Number):
            arrays.append(a)
            numbers = True
            if isinstance(a, (float, np.floating)):
                has_float = True
        else:
            arrays.append(as_array(a))
    if numbers:  # Python numbers: weakly typed constants, as Builder._operands makes them
        npdts = tuple([(x.dtype, x.ndim > 0) for x in arrays if isinstance(x, np.ndarray)])
        if not npdts:
            raise ShapeError("an op needs at least one tensor operand")
        dt = _promoted.get(npdts)
        if dt is None:
            dt = _promoted[npdts] = dtypes.result_type(
                [dtypes.from_numpy(d) for d, dim in npdts if dim],
                [dtypes.from_numpy(d) for d, dim in npdts if not dim])
        to_f32 = has_float and not dt.is_float  # int tensor * 2.5 -> f32, as in PyTorch
        for i, v in enumerate(arrays):
            if isinstance(v, np.ndarray):
                if to_f32:
                    arrays[i] = v.astype(np.float32)
            else:
                arrays[i] = np.asarray(v, dtype=weak_scalar_dtype(v, dt).np)
    opdef = OPS.get(op)
    if opdef is None:
        raise ShapeError(f"unknown op {op!r}")
    # shape rules are pure functions of the operand types and attrs: cache their results (a
    # rule costs 3-6 us, formatting its error messages; a dict lookup well under 1 us)
    key = (op, *[(x.shape, x.dtype) for x in arrays], *attrs.items()) if attrs else \
        (op, *[(x.shape, x.dtype) for x in arrays])
    try:
        rt = _rules.get(key)
    except TypeError:  # an unhashable attr (a constant's array): no caching
        rt, key = None, None
    if rt is None:
        rt = _result_type(op, opdef, arrays, attrs)
        if key is not None:
            if len(_rules) > 8192:
                _rules.clear()
            _rules[key] = rt
    if opdef.fusion in _NOT_EAGER and op != "custom_vjp":
        raise GraphcError(f"op {op!r} cannot run eagerly")
    try:
        with np.errstate(all="ignore"):  # NaN/Inf propagate as in NumPy, silently
            r = opdef.ref(*arrays, **attrs)
    except GraphcError:
        raise
    except Exception as e:  # noqa: BLE001 - any NumPy failure becomes a named error
        from .errors import ExecutionError
        types_s = ", ".join(f"{a.dtype}{list(a.shape)}" for a in arrays)
        loc = user_loc()
        raise ExecutionError(f"{op}{' at ' + loc if loc else ''} failed on operands "
                             f"({types_s}): {e}") from None
    if type(r) is not np.ndarray:
        r = np.asarray(r)
    if r.dtype != rt.dtype.np:
        r = r.astype(rt.dtype.np)
    if r.shape != rt.shape:
        from .errors import ExecutionError
        raise ExecutionError(f"internal error: {op} returned shape {r.shape}, its rule promised {rt}")
    out = Tensor._wrap(r)
    if record and rt.dtype.is_float and is_grad_enabled():
        ins = []
        for a, arr in zip(args, arrays):
            if isinstance(a, Tensor) and a.requires_grad:
                ins.append((a if a._node is None else None, a._node, arr))
            else:
                ins.append((None, None, arr))
        out._node = TapeNode(op, attrs, ins, r, rt,
                             tuple([(a, a._version) for a in args if isinstance(a, Tensor)]))
        out.requires_grad = True
    return out


def _is_one(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == 1


def is_tensor_like(x) -> bool:
    """True for a graphc Tensor or a NumPy array."""
    return isinstance(x, (Tensor, np.ndarray))


def _binop(op, swap=False):
    def method(self, other):
        a, b = (other, self) if swap else (self, other)
        return apply(op, a, b)
    return method


def _truediv(a, b):
    a, b = _int_to_float(a), _int_to_float(b)
    return apply("div", a, b)


def _int_to_float(x):
    if isinstance(x, Tensor) and not x.dtype.is_float:
        return apply("cast", x, dtype=dtypes.float32)
    if isinstance(x, (bool, int, np.integer)):
        return float(x)
    return x


def _pow(a, b):
    if isinstance(b, (int, float)) and not isinstance(b, bool) and float(b) == 2.0:
        return apply("mul", a, a)  # x**2: exact and cheap, as torch does
    return apply("pow", _int_to_float(a), _int_to_float(b))


for _name, _op in [("add", "add"), ("sub", "sub"), ("mul", "mul")]:
    setattr(Tensor, f"__{_name}__", _binop(_op))
    setattr(Tensor, f"__r{_name}__", _binop(_op, swap=True))
for _name, _op in [("eq", "eq"), ("ne", "ne"), ("lt", "lt"), ("le", "le"), ("gt", "gt"),
                   ("ge", "ge"), ("and", "and"), ("or", "or")]:
    setattr(Tensor, f"__{_name}__", _binop(_op))
# torch's named comparisons (x.eq(y), x.gt(0); graphc.eq(a, b) in graphc/__init__.py)
COMPARISONS = {"eq": "eq", "ne": "ne", "not_equal": "ne", "lt": "lt", "less": "lt", "le": "le",
               "less_equal": "le", "gt": "gt", "greater": "gt", "ge": "ge", "greater_equal": "ge"}
for _name, _op in COMPARISONS.items():
    setattr(Tensor, _name, _binop(_op))
Tensor.__rand__ = _binop("and", swap=True)
Tensor.__ror__ = _binop("or", swap=True)
Tensor.__truediv__ = lambda self, o: _truediv(self, o)
Tensor.__rtruediv__ = lambda self, o: _truediv(o, self)
Tensor.__pow__ = lambda self, o: _pow(self, o)
Tensor.__rpow__ = lambda self, o: _pow(o, self)
Tensor.__neg__ = lambda self: apply("neg", self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: apply("abs", self)
Tensor.__invert__ = lambda self: apply("not", self)
# @ (matmul), zero_, fill_, backward and the other methods that are compositions are installed by
# the modules defining them (functions.py, autograd.py): this module imports neither (no circle)


def _legacy_sizes(data) -> bool:
    """Whether Tensor(data) is torch's Tensor(size): a single Python int (not a bool)."""
    return isinstance(data, int) and not isinstance(data, bool)


def fresh_result(fn):
    """For a function torch defines as returning a new tensor (roll, flip, cat, repeat, pad, ...):
    a result that is one of its tensor operands (an op that changed nothing: roll by 0, cat of
    one tensor) or, eagerly, shares memory with one (a reshape of it: repeat(1, 1)) is copied,
    so writing into the result never changes the operand. The copy is `Tensor.clone()`, so
    gradients still flow through it."""
    def operands(args):
        for a in args:
            if isinstance(a, Tensor):
                yield a
            elif isinstance(a, (list, tuple)):
                yield from (t for t in a if isinstance(t, Tensor))

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        if type(out) is not Tensor:   # a number, a tuple, a quantized tensor: as it is
            return out
        for a in operands(args):
            if out is a or not out.is_traced and not a.is_traced \
                    and np.may_share_memory(out._data, a._data):
                return out.clone()
        return out
    return wrapped


def check(cond: bool, msg: str) -> None:
    """Raise a ShapeError naming the user's line when `cond` is false."""
    if not cond:
        raise ShapeError(f"{msg} (at {tracing.user_where()})")
