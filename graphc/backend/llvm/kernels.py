"""The LLVM backend's kernel table: which code emits each op, filled next to each kernel's code.

    @register_kernel("transpose")
    def emit_transpose(b, module, node, ins, out, err): ...

A plain kernel is called inside the kernel function codegen made for `node`, with `ins` (one
pointer per operand), `out` (the result's pointer) and `err` (the i32 error flag: store 1 for an
index out of range). Codegen looks kernels up here by op name; it never tests op names itself.
"""
from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


def register_kernel(*ops: str):
    """Decorator: `fn` emits the kernel of each op in `ops` (each op has at most one)."""
    def deco(fn: Callable) -> Callable:
        for op in ops:
            if op in KERNELS:
                raise ValueError(f"a kernel for op {op!r} is registered twice")
            KERNELS[op] = fn
        return fn
    return deco
