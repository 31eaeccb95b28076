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
    """Context manager / decorator: ops inside record no gradient (as torch.no_grad)."""

    enabled = False


class enable_grad(_GradMode):
    """Context manager / decorator: ops inside record gradients again (as torch.enable_grad)."""

    enabled = True
