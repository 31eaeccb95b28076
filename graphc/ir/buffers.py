"""Where a planned value lives: the memory planner writes these, codegen reads them.

`graph.meta["buffers"]` maps each top-level result that has a place of its own (or aliases one)
to one of

- `Arena(offset)` — `offset` bytes into the step's shared scratch arena (printed `@arena+OFFSET`);
- `StateBuffer(name)` — the array of state `name`: an update written in place, or a reshape of
  that state (printed `@name`);
- `InputBuffer(name)` — the array of graph input `name`: a reshape of it (printed `@name`).

Values with no entry (graph outputs, constants) own their arrays. Each description is also the
text the printer writes after the value's type (a `str` of exactly that text, so it compares,
hashes and prints as the annotation does); its fields say what it means without parsing it.

Every buffer in the arena starts at a multiple of ALIGN bytes, as do the backends' scratch
regions after it.
"""
from __future__ import annotations

ALIGN = 64  # bytes: arena buffers and scratch regions start at multiples of this
_ARENA = "arena+"


def align(nbytes: int) -> int:
    """`nbytes` rounded up to a multiple of ALIGN."""
    return (nbytes + ALIGN - 1) // ALIGN * ALIGN


class Buffer(str):
    """A planned location; the string is its `@` annotation in the printed IR."""

    __slots__ = ()

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class Arena(Buffer):
    """`offset` bytes into the shared arena."""

    offset: int

    def __new__(cls, offset: int):
        self = super().__new__(cls, f"{_ARENA}{int(offset)}")
        self.__dict__["offset"] = int(offset)
        return self

    def __reduce__(self):
        return (Arena, (self.offset,))

    def __repr__(self) -> str:
        return f"Arena({self.offset})"


class _Named(Buffer):
    name: str

    def __new__(cls, name: str):
        self = super().__new__(cls, name)
        self.__dict__["name"] = str(name)
        return self

    def __reduce__(self):
        return (type(self), (self.name,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class StateBuffer(_Named):
    """The array of state `name` (an in-place update, or a reshape aliasing the state)."""


class InputBuffer(_Named):
    """The array of graph input `name` (a reshape aliasing the input)."""


def parse_buffer(text: str, state_names, input_names) -> Buffer:
    """The Buffer an `@text` annotation names in a graph with these state and input names."""
    digits = text[len(_ARENA):]
    if text.startswith(_ARENA) and digits.isdigit():
        return Arena(int(digits))
    if text in state_names:
        return StateBuffer(text)
    if text in input_names:
        return InputBuffer(text)
    raise ValueError(f"@{text} is not a buffer: expected @arena+OFFSET or the name of a state "
                     "or an input of this graph")
