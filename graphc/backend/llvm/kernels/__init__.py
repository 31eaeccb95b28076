"""The LLVM backend's kernel tables: which code emits each node, filled next to each kernel's code.

Every module in this folder is a kernel file: importing the package imports them all, and each
registers its kernels with the decorators below. Adding a kernel is adding a file here.

Codegen asks `kernel_for(node)` and never tests op names itself. A node's kernel is its op's own
(registered by op name), else the body kernel of its fusion class (for a `fused` node: of its
kind). There are three flavours:

- **plain**, by op name: `@register_kernel("transpose")` on
  `emit(b, module, node, ins, out, err)`. Codegen makes the kernel function (one `noalias`
  pointer per distinct buffer, then the error flag) and calls `emit` inside it: `b` is that
  function's builder, `module` the ir.Module, `node` the op's node (shapes, dtypes, attrs),
  `ins` one pointer per operand (in `node.inputs` order; an operand that is a constant points
  at a constant global), `out` the pointer of the single result, and `err` the i32 error flag:
  store 1 for an index out of range. Use irhelp's load/store (bounds-checked under
  GRAPHC_BOUNDS_CHECK); emit straight-line code or loops, and leave `b` where the function may
  continue (codegen adds the `ret`).
- **whole**, by op name: `@register_kernel("qlinear", whole=True)` on
  `emit(mb, b, slots, node, err, name)`, for kernels that build their own function and pool
  tasks. `mb` is the ModuleBuilder, `b` the entry function's builder at this node's place,
  `slots` the entry's slot pointers, `err` the entry's i32 error flag and `name` the kernel's
  function name (`k<index>_<op>`, already listed for GRAPHC_DEBUG timing). `emit` makes one
  internal function called `name` (`mb.kernel_function`), passes it the buffers it needs
  (`mb.pointer(b, slots, v)`; scratch from `mb.reserve` + `mb.arena_pointer`) and calls it once
  from `b`; tasks for the thread pool come from `mb.pool_task` and `mb.run_on_pool`. The
  entry function is compiled without optimisation (`optnone`: it is a line of calls), so all
  work, loops above all, belongs in the kernel's own function, never in `b`.
- **body**, by fusion class and fused kind: `@register_body_kernel(Fusion.MATMUL,
  kinds=("matmul",))` on a class emitting a body graph (a fused node's, or one node wrapped as
  one) into the function codegen made, with classmethods `tasks(body)` (pool tasks, 1 = no
  split) and `panel_bytes(body, tasks)` (arena bytes of packed panels, 0 = none), and
  `cls(cx_factory, b, body, operands, results, err, part, uniform_only, panels).emit()`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from ....errors import CompileError
from ....ir import Fusion, fusion_of
from .. import irhelp as H

PLAIN, WHOLE, BODY = "plain", "whole", "body"


@dataclass(frozen=True)
class Kernel:
    """A table entry: the code that emits a node's kernel and how codegen calls it."""

    flavour: str          # PLAIN, WHOLE or BODY (see the module docstring)
    impl: Callable        # the emit function (PLAIN, WHOLE) or the kernel class (BODY)


KERNELS: dict[str, Kernel] = {}                # op name -> the op's own kernel
BODY_KERNELS: dict[Fusion | str, Kernel] = {}  # fusion class (one node) or fused kind -> kernel


def register_kernel(*ops: str, whole: bool = False):
    """Decorator: `fn` emits the kernel of each op in `ops` (a plain kernel, or with
    whole=True one that builds its own function); each op has at most one kernel."""
    def deco(fn: Callable) -> Callable:
        for op in ops:
            _add(KERNELS, op, Kernel(WHOLE if whole else PLAIN, fn))
        return fn
    return deco


def register_body_kernel(*classes: Fusion, kinds: tuple[str, ...] = ()):
    """Class decorator: `cls` emits single nodes of each fusion class in `classes` and fused
    nodes of each kind in `kinds`."""
    def deco(cls: type) -> type:
        for key in (*classes, *kinds):
            _add(BODY_KERNELS, key, Kernel(BODY, cls))
        return cls
    return deco


def _add(table: dict, key, kernel: Kernel) -> None:
    if key in table:
        raise ValueError(f"a kernel for {key!r} is registered twice")
    table[key] = kernel


def kernel_for(node) -> Kernel:
    """The kernel that emits top-level node `node` (a CompileError naming the op if none)."""
    own = KERNELS.get(node.op)
    if own is not None:
        return own
    f = fusion_of(node)
    body = BODY_KERNELS.get(node.attrs["kind"] if f is Fusion.KERNEL else f)
    if body is None:
        types = ", ".join(str(v.type) for v in node.inputs)
        raise CompileError(f"the LLVM backend has no kernel for op {node.op} ({types})"
                           f"{' at ' + node.loc if node.loc else ''}; run it with "
                           "backend='interpreter', or register one (graphc/backend/llvm/kernels.py)")
    return body


MAX_TASKS = 8   # a whole kernel's pool split depends on the shape only, never on the threads


def pool_tasks(items: int, work: int, min_work: int) -> int:
    """How many pool tasks share `items` independent items of `work` elements in all: one per
    `min_work` elements, at most MAX_TASKS and one item each."""
    return max(1, min(MAX_TASKS, items, work // min_work))


def emit_blocked(mb, b, args: list, err, name: str, items: int, tasks: int,
                 emit: Callable, key=None) -> None:
    """A whole kernel `name` over the pointers `args` (noalias) and the error flag, called from
    `b`: emit(builder, ptrs, lo, hi, err) emits items lo <= i < hi; with tasks > 1 the items
    split into that many contiguous blocks, each a pool task. `key` (default: the node's
    signature, from codegen) names what the code depends on: a kernel with the key of one
    already emitted calls that function with its own pointers."""
    key = (getattr(mb, "whole_key", None) if key is None else key, items, tasks, len(args))
    if key[0] is not None and key in mb.emitted:
        b.call(mb.emitted[key], args + [err])
        return
    kf, kb = mb.kernel_function(name, len(args) + 1)
    if key[0] is not None:
        mb.emitted[key] = kf
    for a in kf.args[:-1]:
        a.add_attribute("noalias")
    if tasks == 1:
        emit(kb, list(kf.args[:-1]), H.i64(0), H.i64(items), kf.args[-1])
    else:
        per = -(-items // tasks)
        task, tb, ptrs = mb.pool_task(name + "_task", len(kf.args))
        lo = tb.mul(task.args[1], H.i64(per))
        hi = tb.add(lo, H.i64(per))
        hi = tb.select(tb.icmp_signed("<", hi, H.i64(items)), hi, H.i64(items))
        emit(tb, ptrs[:-1], lo, hi, ptrs[-1])
        tb.ret_void()
        mb.run_on_pool(kb, task, list(kf.args), tasks)
    kb.ret_void()
    b.call(kf, args + [err])


def _load_kernel_files() -> None:
    """Import every module of this package, so each registers its kernels."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")


_load_kernel_files()
