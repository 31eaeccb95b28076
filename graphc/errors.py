"""Errors graphc raises: every one is a GraphcError with an actionable message."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """An op got operands whose shapes or dtypes do not fit (at trace time)."""


class TraceError(GraphcError):
    """The traced program did something tracing cannot express (e.g. Python control flow on a tensor)."""


class InputError(GraphcError, TypeError):
    """A compiled function was called with arguments it cannot take."""


class ParseError(GraphcError, ValueError):
    """IR text could not be parsed; the message names the line and column."""


class VerifyError(GraphcError):
    """A graph broke an IR invariant; the message names the node."""


class ExecutionError(GraphcError, RuntimeError):
    """A node failed while running; the message names the op and the user's line."""


class CompileError(GraphcError):
    """A backend was given a graph it cannot compile as it is; the message says what to run first."""


class NotSupportedError(GraphcError, AttributeError):
    """A torch name (function, module, layer, Tensor method) graphc does not implement yet.

    Also an AttributeError, so `hasattr(graphc.nn, "Conv3d")` is False and `getattr(obj, name,
    default)` works as with any missing attribute."""


class NotSupportedImportError(GraphcError, ImportError):
    """`from graphc.nn import Conv3d` of a name graphc does not implement yet (an ImportError, so
    `try: from ... import ... except ImportError` fallbacks keep working)."""


class GraphcWarning(UserWarning):
    """Base class of the warnings graphc gives (a likely mistake it can still run)."""


class TraceTimeRandomnessWarning(GraphcWarning):
    """Python's `random` or NumPy's random functions were called while a compiled function was
    traced: the value was drawn once and is baked into the graph as a constant."""
