"""Warn when Python's `random` or NumPy's random functions run while a function is traced.

A trace runs the user's Python once: `depth = random.randint(1, 4)` in `forward` is drawn once and
the graph keeps that value for every later call, silently. While a trace runs (and only then, so
untraced code pays nothing), a profile hook (`sys.setprofile`, this thread only) looks at each
call: a C call whose `__self__` is a `random.Random`, a `numpy.random.RandomState` (the legacy
`np.random.*` functions) or a `numpy.random.Generator`, or a Python function of the `random`
module called from the user's code, gives a `TraceTimeRandomnessWarning` at the user's line with
the in-graph alternative. When another profiler (cProfile) is already installed, nothing is
watched rather than displacing it.
"""
from __future__ import annotations

import os
import random
import sys
import warnings
from typing import Any

import numpy as np

from ..errors import TraceTimeRandomnessWarning

_RANDOM_FILE = random.__file__
_RNG_TYPES = (random.Random, np.random.RandomState, np.random.Generator)
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # graphc/
_SKIP = (_PKG, os.path.join(os.path.dirname(_PKG[:-1]), "passes") + os.sep,
         os.path.dirname(np.__file__) + os.sep, os.path.dirname(_RANDOM_FILE) + os.sep)

_HINTS = {
    "randint": "graphc.randint(low, high, size)", "randrange": "graphc.randint(low, high, size)",
    "integers": "graphc.randint(low, high, size)", "random_integers": "graphc.randint",
    "random": "graphc.rand(size)", "rand": "graphc.rand(size)", "uniform": "graphc.rand",
    "random_sample": "graphc.rand(size)", "ranf": "graphc.rand(size)", "sample": "graphc.randperm",
    "gauss": "graphc.randn(size)", "normalvariate": "graphc.randn(size)",
    "randn": "graphc.randn(size)", "normal": "graphc.randn / graphc.normal",
    "standard_normal": "graphc.randn(size)", "shuffle": "x[graphc.randperm(n)]",
    "permutation": "graphc.randperm(n)", "permuted": "graphc.randperm(n)",
    "choice": "graphc.randint for an index, or graphc.multinomial",
    "choices": "graphc.multinomial", "binomial": "graphc.bernoulli",
    "bernoulli": "graphc.bernoulli",
}


def _user(filename: str) -> bool:
    return not (filename.startswith("<frozen") or os.path.abspath(filename).startswith(_SKIP))


_LEGACY = [n for n, v in vars(np.random).items()
           if getattr(v, "__self__", None) is np.random.mtrand._rand
           and n not in ("get_state", "set_state", "seed")]


def _legacy_wrapper(self, name, f):
    def wrapper(*args, **kwargs):
        frame = sys._getframe(1)
        if _user(frame.f_code.co_filename):
            self._report(frame, f"numpy.random.{name}", name)
        return f(*args, **kwargs)
    wrapper.__wrapped__ = f
    return wrapper


def _generators(fn, modules) -> list[tuple[str, Any]]:
    """(name, Generator/RandomState) pairs the traced function can reach: its globals and closure
    cells (and the helpers it calls, one level), and attributes of the modules it uses."""
    from .guards import _global_loads
    out, seen = [], set()

    def add(name, v):
        if isinstance(v, (np.random.Generator, np.random.RandomState)) and id(v) not in seen \
                and v is not np.random.mtrand._rand:
            seen.add(id(v)); out.append((name, v))  # noqa: E702

    def walk(f, depth):
        f = getattr(f, "__func__", f)
        code = getattr(f, "__code__", None)
        if code is None:
            return
        for n, c in zip(code.co_freevars, f.__closure__ or ()):
            try:
                add(n, c.cell_contents)
            except ValueError:
                pass
        g = getattr(f, "__globals__", {})
        for n in _global_loads(code):
            v = g.get(n)
            add(n, v)
            if depth < 1 and callable(v) and hasattr(v, "__code__"):
                walk(v, depth + 1)
    walk(fn, 0)
    for root in modules:
        for m in root.modules():
            for k, v in vars(m).items():
                add(f"{type(m).__name__}.{k}", v)
    return out


def _state(g):
    bg = g.bit_generator if isinstance(g, np.random.Generator) else g._bit_generator
    return repr(bg.state)


class watching:
    """Context manager: warn about trace-time randomness while `name` is traced."""

    def __init__(self, name: str, fn=None, modules=()):
        self.name = name
        self.fn, self.modules = fn, modules
        self.prev = None
        self.active = False
        self.patched: list[tuple[str, Any]] = []
        self.gens: list[tuple[str, Any, str]] = []

    def _report(self, frame, what: str, short: str) -> None:
        code = frame.f_code
        hint = _HINTS.get(short, "graphc.rand / graphc.randn / graphc.randint / graphc.randperm")
        msg = (f"{what}() was called while graphc traced {self.name!r} "
               f"({code.co_filename}:{frame.f_lineno}): it ran once, at trace time, and its "
               "result is baked into the compiled graph as a constant, so every later call "
               f"reuses the same value. Draw it inside the graph with {hint} (graphc's random "
               "functions are new on every call), or draw it outside the compiled function and "
               "pass it in as a tensor argument.")
        g = frame.f_globals
        warnings.warn_explicit(msg, TraceTimeRandomnessWarning, code.co_filename, frame.f_lineno,
                               module=g.get("__name__") or "<traced>", registry=g.setdefault(
                                   "__warningregistry__", {}))

    def _profile(self, frame, event, arg):
        if event == "c_call":
            s = getattr(arg, "__self__", None)
            if s is not None and isinstance(s, _RNG_TYPES) and _user(frame.f_code.co_filename):
                name = getattr(arg, "__name__", "?")
                if isinstance(s, random.Random):
                    what = f"random.{name}"
                elif isinstance(s, np.random.Generator):
                    what = f"numpy.random.Generator.{name}"
                else:
                    what = f"numpy.random.{name}"
                self._report(frame, what, name)
        elif event == "call" and frame.f_code.co_filename == _RANDOM_FILE:
            back = frame.f_back
            name = frame.f_code.co_name
            if back is not None and not name.startswith("_") and _user(back.f_code.co_filename):
                self._report(back, f"random.{name}", name)

    def __enter__(self):
        self.prev = sys.getprofile()
        if self.prev is not None:   # another profiler, or an outer trace already watching
            return self
        self.active = True
        sys.setprofile(self._profile)
        for n in _LEGACY:   # np.random.rand & co: Cython methods the profile hook cannot see
            f = getattr(np.random, n)
            if getattr(f, "__self__", None) is np.random.mtrand._rand:
                self.patched.append((n, f))
                setattr(np.random, n, _legacy_wrapper(self, n, f))
        try:
            self.gens = [(n, g, _state(g)) for n, g in _generators(self.fn, self.modules)]
        except Exception:  # noqa: BLE001  (finding generators is best effort)
            self.gens = []
        return self

    def __exit__(self, *exc):
        if not self.active:
            return
        sys.setprofile(self.prev)
        self.active = False
        for n, f in self.patched:
            setattr(np.random, n, f)
        self.patched = []
        for n, g, st in self.gens:
            if _state(g) != st:
                self._generator_drawn(n, g)
        self.gens = []

    def _generator_drawn(self, name: str, g) -> None:
        code = getattr(getattr(self.fn, "__func__", self.fn), "__code__", None)
        where = (code.co_filename, code.co_firstlineno) if code else ("<unknown>", 0)
        kind = "numpy.random.Generator" if isinstance(g, np.random.Generator) else \
            "numpy.random.RandomState"
        msg = (f"the {kind} {name!r} was drawn from while graphc traced {self.name!r} "
               f"({where[0]}:{where[1]}): the numbers were drawn once, at trace time, and are "
               "baked into the compiled graph as constants, so every later call reuses them. "
               "Draw them inside the graph with graphc.rand / graphc.randn / graphc.randint / "
               "graphc.randperm (new on every call), or draw them outside the compiled function "
               "and pass them in as a tensor argument.")
        warnings.warn_explicit(msg, TraceTimeRandomnessWarning, where[0], where[1],
                               module=getattr(self.fn, "__module__", None) or "<traced>")
