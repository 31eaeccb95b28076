"""nn.Parameter: a tensor owned by a Module, held in a NumPy array that compiled code updates in place."""
from __future__ import annotations

import numpy as np

from ..driver import tracing
from ..errors import GraphcError
from ..tensor import Tensor, as_array, contiguous


class Parameter(Tensor):
    """A learnable tensor held in a NumPy array (`p.numpy()`); inside a trace it is graph state."""

    _is_state = True
    _state_hint = "param"
    rebinds = 0      # bumped whenever any Parameter/Buffer gets a new array (compiled calls check it)
    grad_epoch = 0   # bumped whenever any Parameter's .grad is assigned (compiled calls guard on it)

    def __setattr__(self, name, value) -> None:
        super().__setattr__(name, value)
        if name == "_data":  # counted after the change: a check that ran meanwhile is redone
            Parameter.rebinds += 1
        elif name == "grad":
            Parameter.grad_epoch += 1

    def __init__(self, data, requires_grad: bool = True):
        arr = contiguous(as_array(data))
        super().__init__(arr, requires_grad=requires_grad)

    @property
    def data(self):
        """The same values as a Tensor that shares the parameter's memory and is detached from
        autograd, as PyTorch's `p.data` (in-place ops on it, `p.data[...] = v`, `p.data.mul_(0.9)`,
        update the parameter). Inside a trace, the parameter itself, so `p.data.add_(...)` and
        `p.data = expr` update it in the graph instead of baking in today's values."""
        return self if tracing.current() is not None else Tensor._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        """Copy `value` into the parameter's array (same shape and dtype); in a trace, update it."""
        if tracing.current() is not None:
            self._assign(value)
            return
        arr = contiguous(as_array(value))
        if self._data is not None and (arr.shape != self._data.shape or arr.dtype != self._data.dtype):
            raise GraphcError(f"cannot replace a parameter of {self._data.dtype}{list(self._data.shape)} "
                              f"with {arr.dtype}{list(arr.shape)}; make a new Parameter instead")
        np.copyto(self._data, arr)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Parameter):
    """A non-learnable tensor registered with `Module.register_buffer` (e.g. running statistics)."""

    _state_hint = "buffer"

    def __init__(self, data):
        super().__init__(data, requires_grad=False)
