"""torch.nn.modules.utils: _single, _pair, _triple, _quadruple, _ntuple (a value repeated n times,
an iterable as a tuple), as torch's."""
from __future__ import annotations

import collections.abc
from itertools import repeat


def _ntuple(n: int, name: str = "parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n: int) -> tuple:
    """Each element of t repeated n times, in reverse order (torch's padding helper)."""
    return tuple(x for x in reversed(t) for _ in range(n))
