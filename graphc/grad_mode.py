"""Grad mode: whether ops record gradients on this thread (no_grad, enable_grad, is_grad_enabled).

A low module of its own because both sides read it: graphc.tensor (every op asks whether to
record a gradient) and graphc.autograd (backward, custom Functions). graphc.autograd re-exports
these names, so `graphc.autograd.no_grad` and `graphc.no_grad` are as in PyTorch.
"""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside no_grad on this thread (as torch.is_grad_enabled)."""
    return getattr(_state, "enabled", True)


class _GradMode:
    enabled = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = self.enabled

    def __exit__(self, *exc):
        _state.enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no gradient (as torch.no_grad; a bare
    `@no_grad` works too)."""

    enabled = False

    def __new__(cls, fn=None):
        if fn is not None and callable(fn):   # bare @no_grad
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        pass


class set_grad_enabled(_GradMode):
    """torch.set_grad_enabled(mode): a context manager / decorator, or, called as a function,
    sets grad mode at once (the transfer-learning tutorial's `with
    torch.set_grad_enabled(phase == 'train')`)."""

    def __init__(self, mode: bool):
        self.enabled = bool(mode)
        self._prev = is_grad_enabled()
        _state.enabled = self.enabled

    def __enter__(self):
        _state.enabled = self.enabled

    def __exit__(self, *exc):
        _state.enabled = self._prev

    def __call__(self, fn):
        mode = self.enabled
        _state.enabled = self._prev   # as a decorator it changes nothing until fn runs

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev
        return wrapper


class enable_grad(_GradMode):
    """Context manager / decorator: ops inside record gradients again (as torch.enable_grad)."""

    enabled = True


class inference_mode(_GradMode):
    """torch.inference_mode: as no_grad in graphc (`inference_mode(False)` leaves grad mode on);
    usable as a context manager, `@inference_mode()` or a bare `@inference_mode`."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):  # bare @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = self._prev and not self.mode

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper


def is_inference_mode_enabled() -> bool:
    """True inside inference_mode (graphc: whenever grad mode is off)."""
    return not is_grad_enabled()
