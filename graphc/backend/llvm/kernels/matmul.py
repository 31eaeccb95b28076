"""Matmul kernels: register-blocked micro-kernels with the kernel's elementwise epilogue fused in.

Two forms cover the transposes a training step produces:
- broadcast form (x @ W, dX = g @ W, dW = g^T @ x, and x @ W^T from PACK_MIN_M_T8 rows on
  when K >= TRANSPOSE_MIN_K, else from PACK_MIN_M rows; W^T must fit a panel): a
  tile of MR rows by NR_VEC vectors keeps its accumulators in registers; each k step loads the
  vectors of B's row k and broadcasts MR scalars of A (rows of A, or columns when A is
  transposed). With AVX-512 the tile is 12 rows x 32 floats in 24 zmm registers, else 6 x 16 in
  12 ymm. B's column panel is first copied (transposed when B is stored transposed) into a
  contiguous slice of the call's arena when that pays: it then streams through the cache
  without power-of-two strides or a TLB miss every few rows;
- dot form (B transposed, few rows or a short K: x @ W^T at tiny batches): a 3x3 tile of
  `<8 x float>` accumulators runs along k over rows of A and rows of B, then sums each one.
Where a packed panel would crowd the L1 cache (the 6 x 16 tile with K beyond about 500), each
task sweeps its share of C one block of about 256 k rows at a time: it copies that block of its
rows of A (padded strides: no power-of-two cache-set conflicts, resident in L2 across its
panels), packs each panel's block of B (resident in L1 across its row blocks) and keeps the
tiles' sums in its arena slice between blocks.
Either way the finished tile goes straight through the epilogue (bias, ReLU and its mask, or a
whole optimizer update) while it is in registers. Other dtypes use a plain triple loop.

Every element of C is one sequential FMA chain over k in the broadcast form, whatever the tile,
the packing, the K-blocking or the split into tasks, so results do not depend on the thread count or the CPU's
vector width; the dot form is chosen from the shapes alone.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

from llvmlite import ir

from ....ir import Fusion, fusion_of
from ....ir.graph import Graph, Node, Value
from ....ir.ops.conv import blocks
from .. import irhelp as H
from .. import target
from . import register_body_kernel
from .elementwise import lower_elementwise
from .loop import Operand, _strides, scalar_const

DOT_MR, DOT_NR = 3, 3      # dot form tile
DOT_NR1 = 8                # ... its columns with fewer than DOT_MR rows
PACK_MIN_M = 256           # x @ W^T with at least this many rows: pack W^T panels, broadcast form
PACK_MIN_M_T8 = 16         # ... or this many, when the panels are packed by 8 x 8 transposes
TRANSPOSE_MIN_K = 64       # W^T panels are transposed 8 x 8 in registers from this K on (below it
                           # element by element: LLVM 22's instruction selection asserts on the
                           # fully unrolled shuffles of a tiny K)
PACK_BYTES = 1 << 20       # a packed panel (an arena slice): K rows of at most PANEL_ROW bytes
PANEL_ROW = 128            # the widest panel row (32 floats, 16 doubles): packing is allowed up
                           # to the same K for every tile width, so the form, and with it the
                           # order of the sums, never depends on the CPU's vector width
EPILOGUE_LOOP_MIN_OPS = 4  # epilogues this long run as a loop over the tile's rows
SLOT_HEADER = 64           # the panel region starts with an i32 mask of the slices in use
PACK_MIN_BLOCKS = 4        # an untransposed B is packed when a task reuses its panel this often
PARALLEL_MACS = 1 << 20    # matmuls with at least this many multiply-adds use the thread pool
KC_L1 = 3                  # K-blocking: a panel is swept in k blocks of at most 1/KC_L1 of the L1
                           # data cache (256 rows of 16 floats in 48 KB) once the whole panel
BLOCK_L1 = 0.75            # is more than this fraction of it (no bits change: sums stay in order)
BLOCK_ROW = 64             # ... for panels rows of at most this many bytes, the 6 x 16 ymm tile: the
                           # 12 x 32 zmm tile ran 8-10 % slower K-blocked (Xeon, 48 KB L1, 2 MB L2)
GROUP_BYTES = 128          # ... a task's columns of C: at least this much of each row, when
GROUP_MAX_K = 128          # K is below this (the tiles mostly store: 64x784x128 ran 8 % slower)
MAX_TASKS = 8              # ... split into at most this many tasks
MAX_RUNS = 4               # an implicit GEMM's vector of pixels spanning at most this many output
                           # rows is packed by one masked load per row, else by a gather (16 lanes
                           # over 3 rows of 10: LeNet-5's conv2 ran ~2x slower gathered)


def geometry(dt) -> tuple[int, int, int]:
    """(vector width, MR rows, NR_VEC vectors per row) of the broadcast form's register tile."""
    wide = target.host()["avx512"]
    vw = (16 if wide else 8) if dt.name == "f32" else (8 if wide else 4)
    return (vw, 12, 2) if wide else (vw, 6, 2)


@dataclass(frozen=True)
class Plan:
    """How one matmul is computed: the form, the register tile, packing, and the task grid
    (column-panel groups x row-block groups; the same for any number of threads)."""
    form: str        # "broadcast", "dot" or "naive"
    vw: int
    mr: int
    nr_vec: int
    pack: bool
    cols: int = 1
    rows: int = 1
    long_k: bool = False   # B^T too long for one packed panel: packed and swept one k block at a time

    @property
    def tasks(self) -> int:
        """Pool tasks: one per (column group, row group)."""
        return self.cols * self.rows


def plan(mm, max_tasks: int = 1, body: Graph | None = None) -> Plan:
    """The plan for matmul node `mm` of kernel body `body`, split into at most `max_tasks`
    tasks."""
    C, A = mm.outputs[0], mm.inputs[0]
    ta, tb = mm.attrs.get("transpose_a", False), mm.attrs.get("transpose_b", False)
    M, N = C.shape[-2], C.shape[-1]
    K = A.shape[-2] if ta else A.shape[-1]
    dt = C.dtype
    if dt.name not in ("f32", "f64"):
        return Plan("naive", 1, 1, 1, False)
    vw, mr, nr_vec = geometry(dt)
    nr = vw * nr_vec
    fits = K * PANEL_ROW <= PACK_BYTES
    # a computed B^T (unfold's columns in a weight gradient) exists only in its packed panels
    transposed8 = K >= TRANSPOSE_MIN_K and M >= PACK_MIN_M_T8 \
        or tb and not ta and packed_b(mm, body) is not None
    # x @ W^T with a K too long for a whole panel (a convolution's weight gradient, K = N*Ho*Wo):
    # the broadcast form packs and sweeps one k block of W^T at a time (the dot form ran it at
    # half the speed: 64 x 288 x 36864 in 16 ms against 8 ms swept, Xeon, 2 threads)
    long_k = tb and not ta and not fits and transposed8
    if tb and not ta and (not (M >= PACK_MIN_M or transposed8) or not (fits or long_k)):
        # few rows: stream W once, no packing; tasks split the row blocks, or, with fewer row
        # blocks than tasks (a batch of one), the column tiles (each element's sum is the
        # same either way: tiles never change with the split)
        units = M // DOT_MR if M >= DOT_MR else 0
        cols, rows = 1, max(1, min(units, max_tasks))
        if units < max_tasks:
            cols, rows = max(1, min(N // (DOT_NR if M >= DOT_MR else DOT_NR1), max_tasks)), 1
        return Plan("dot", 8 if dt.name == "f32" else 4, DOT_MR, 1, False, cols=cols, rows=rows)
    if tb and not fits and not long_k:
        return Plan("naive", 1, 1, 1, False)
    # panels a column group holds at least, where storing C dominates (a short K)
    group = -(-GROUP_BYTES // (nr * dt.itemsize)) if K < GROUP_MAX_K else 1
    cols, rows = _grid(N // nr + (1 if N % nr else 0), max(1, M // mr), max_tasks, group=group)
    per_task = -(-(M // mr) // rows)
    pack = long_k or fits and (tb or N * dt.itemsize % 4096 == 0 or per_task >= PACK_MIN_BLOCKS)
    pack = pack or packed_b(mm, body) is not None   # a computed B exists only in its panels
    sw = sweep(M, K, ta, nr * dt.itemsize, dt.itemsize, long_k) if pack else None
    if sw is not None and sw.copy_a:
        # every task copies its rows of A once per k block and packs its panels of B: fewer
        # column groups copy A fewer times
        cols, rows = _grid(N // nr + (1 if N % nr else 0), max(1, M // mr), max_tasks, (M, N),
                           group)
    return Plan("broadcast", vw, mr, nr_vec, pack, cols, rows, long_k)


@functools.lru_cache(maxsize=1)
def l1_data_bytes() -> int:
    """This CPU's level-1 data cache in bytes (Linux sysfs; 32 KB where it cannot be read)."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in sorted(os.listdir(root)):
            def read(f, d=d):
                with open(os.path.join(root, d, f)) as fh:
                    return fh.read().strip()
            if read("level") == "1" and read("type") in ("Data", "Unified"):
                size = read("size")
                return int(size[:-1]) * 1024 if size.endswith("K") else int(size)
    except (OSError, ValueError):
        pass
    return 32 * 1024


@dataclass(frozen=True)
class Sweep:
    """How a task sweeps its share of C when it does so one k block at a time."""
    blocks: int      # k blocks
    kc: int          # k rows per block (the last one may be shorter)
    copy_a: bool     # copy the block of A's rows first


def sweep(M: int, K: int, ta: bool, row_bytes: int, itemsize: int,
          long_k: bool = False) -> Sweep | None:
    """The k-block sweep of a packed broadcast-form matmul whose panel rows take row_bytes,
    or None for one pass over all k per panel (the sums are the same FMA chains over k in
    order either way; only speed depends on the CPU's caches):
    - A stored transposed with rows a multiple of 128 bytes apart and K long enough that
      more than CROWDED lines fall into one set: a tile reading down the k rows of A^T hits
      a few of the 64 sets of a 4 KB L1 way (M = 1024: one set), so the task copies each
      block of A first into the tiles' micro-panels (on either tile: 2x at 1024^3);
    - the 6 x 16 ymm tile (rows up to BLOCK_ROW bytes) whose panel would take more than
      BLOCK_L1 of the L1: blocks of at most 1/KC_L1 of it keep B's block in L1; A's block
      is copied when its rows are a multiple of 128 bytes apart, too. The 12 x 32 zmm tile
      ran 8-10 % slower so blocked (Xeon, 48 KB L1, 2 MB L2) and is not;
    - `long_k`: a panel of more than PACK_BYTES (B stored transposed, K in the tens of
      thousands) is always blocked, on either tile."""
    l1 = l1_data_bytes()
    gcd = math.gcd((M if ta else K) * itemsize, 4096)
    bad_stride = COPY_A and gcd > 64
    big = K * row_bytes > BLOCK_L1 * l1 and (row_bytes <= BLOCK_ROW or long_k)
    if not big and not (ta and bad_stride and K * gcd // 4096 > CROWDED):
        return None
    kc = max(8, int(l1 / KC_L1) // row_bytes // 8 * 8)
    n = -(-K // kc) if K * row_bytes > BLOCK_L1 * l1 else 1
    return Sweep(n, -(-K // n), bad_stride)


COPY_A = True
PAD_REST = True
CROWDED = 64   # lines of A^T per L1 set (of a 4 KB way) beyond which A^T is copied


def _sweep_of(M: int, K: int, ta: bool, p: Plan, itemsize: int) -> Sweep | None:
    return sweep(M, K, ta, p.vw * p.nr_vec * itemsize, itemsize, p.long_k)


def slot_elems(M: int, N: int, K: int, ta: bool, p: Plan, itemsize: int) -> tuple[int, int]:
    """Elements of one task's arena slice: the packed panel (K rows of a full panel, or one k
    block of them), then, for a k-block sweep, the partial sums of the task's share of C
    (rows: its row blocks plus the remainder rows; columns: its column panels; none for one
    block) and its copy of one k block of A: its share of A's rows, each kc long (A stored
    transposed: kc rows of its share of columns), with padded strides."""
    nr = p.vw * p.nr_vec
    sw = _sweep_of(M, K, ta, p, itemsize)
    if sw is None:
        return K * nr, 0
    rows = _share_rows(M, p)
    sums = rows * _share_cols(N, p) if sw.blocks > 1 else 0
    copy = max(rows * (sw.kc + A_PAD), sw.kc * (rows + A_PAD)) if sw.copy_a else 0
    return sw.kc * nr, sums + copy


A_PAD = 16   # elements after each row of A's copy: its row stride is no power of two


def _share_rows(M: int, p: Plan) -> int:
    """Rows of C a task's partial sums cover: its share of the row blocks and the remainder."""
    return (-(-(M // p.mr) // p.rows) + 1) * p.mr


def _share_cols(N: int, p: Plan) -> int:
    """Columns of C a task's partial sums cover: its share of the column panels."""
    nr = p.vw * p.nr_vec
    return -(-(N // nr + (1 if N % nr else 0)) // p.cols) * nr


def _grid(col_units: int, row_units: int, max_tasks: int, copies=None,
          group: int = 1) -> tuple[int, int]:
    """Column groups x row groups (at most max_tasks) whose largest share of panels x row
    blocks is smallest; ties go to more column groups (fewer copies of each packed panel).
    A column group holds at least `group` panels (GROUP_BYTES of each row of C): two tasks
    writing the two lines of one 128-byte pair at once ran the 6 x 16 tile's 1024 x 10 x 128
    matmul (a 64-byte panel) at 35-64 GF/s on 2 threads against 97 in one task (73 so).
    With copies = (M, N) (each task copies its rows of A and packs its columns of B), the
    grid within 5 % of that share that copies the fewest elements, cols x M + rows x N."""
    best = (0, 1, 1)   # no columns at all (an empty matrix): one task with nothing to do
    grids = []
    for cols in range(1, min(col_units, max_tasks) + 1):
        if cols > 1 and -(-col_units // cols) < group:
            break
        rows = min(max_tasks // cols, row_units)
        cost = -(-col_units // cols) * -(-row_units // rows)
        grids.append((cost, cols, rows))
        if cols == 1 or cost <= best[0]:
            best = (cost, cols, rows)
    if copies is not None:
        M, N = copies
        ok = [g for g in grids if g[0] <= best[0] * 1.05]
        best = min(ok, key=lambda g: (g[1] * M + g[2] * N, -g[1]))
    return best[1], best[2]


def packed_b(mm: Node, body: Graph | None) -> Node | None:
    """The node computing the matmul's B inside its kernel body (a PACK op, unfold), or None
    (a bare matmul's body is the node alone: its operands' producers lie outside)."""
    p = mm.inputs[1].producer
    return p if p is not None and fusion_of(p) is Fusion.PACK and body is not None \
        and p in body.nodes else None


def matmul_node(body: Graph) -> Node:
    """The matmul of a matmul kernel's body (the node of the MATMUL class)."""
    return next(n for n in body.nodes if fusion_of(n) is Fusion.MATMUL)


@register_body_kernel(Fusion.MATMUL, kinds=("matmul",))
class MatmulKernel:
    """Emit one matmul kernel, its elementwise epilogue fused in, into the current function."""

    @classmethod
    def tasks(cls, body: Graph) -> int:
        """How many pool tasks the kernel of `body` is split into: only large matmuls, never
        batched ones. The count does not depend on the number of threads, so neither do the
        results."""
        mm = matmul_node(body)
        c = mm.outputs[0]
        a = mm.inputs[0]
        if len(c.shape) != 2 or not c.dtype.is_float:
            return 1
        K = a.shape[0] if mm.attrs.get("transpose_a") else a.shape[1]
        M, N = c.shape
        if M * N * K < PARALLEL_MACS:
            return 1
        return plan(mm, MAX_TASKS, body).tasks

    @classmethod
    def panel_bytes(cls, body: Graph, tasks: int) -> int:
        """Bytes of packed panels the kernel of `body` in `tasks` tasks needs (one per task)."""
        mm = matmul_node(body)
        p = plan(mm, tasks, body)
        if p.form != "broadcast" or not p.pack:
            return 0
        assert p.tasks <= 32, "the slice mask is an i32"
        A = mm.inputs[0]
        K = A.shape[-2] if mm.attrs.get("transpose_a", False) else A.shape[-1]
        M, N = mm.outputs[0].shape[-2:]
        size = mm.outputs[0].dtype.itemsize
        ta = mm.attrs.get("transpose_a", False)
        return SLOT_HEADER + p.tasks * sum(slot_elems(M, N, K, ta, p, size)) * size

    def __init__(self, cx_factory, b: ir.IRBuilder, body: Graph,
                 operands: dict[Value, Operand], results: dict[Value, Operand], err,
                 part=None, uniform_only: bool = False, panels=None):
        self.part = part  # (task index, number of tasks): this call does its share of the tiles
        self.panels = panels  # arena region for packed panels, one slice per task (or None)
        # scalar results (a step counter) are stored once, after all tasks, never by a task:
        # tasks must all read the old value
        self.uniform_only = uniform_only
        self.cx_factory, self.b, self.body = cx_factory, b, body
        self.operands, self.results = operands, results
        self.mm = matmul_node(body)
        self.C = self.mm.outputs[0]
        self.S = self.C.shape
        rest = [n for n in body.nodes if n is not self.mm
                and fusion_of(n) not in (Fusion.SOURCE, Fusion.PACK)]
        self.unfold = packed_b(self.mm, body)
        self.uniform = [n for n in rest if n.outputs[0].shape == () and
                        all(v.shape == () for v in n.inputs) and not self._depends_on_c(n)]
        self.epi = [n for n in rest if n not in self.uniform]
        self.dt = self.C.dtype
        self.plan = plan(self.mm, part[1] if part is not None else 1, body)
        assert part is None or self.plan.tasks == part[1], "task grid differs from the caller's"
        self.VW, self.MR = self.plan.vw, self.plan.mr
        self._tile = None   # the epilogue loop's stack tile, made on first use

    def _depends_on_c(self, n) -> bool:
        seen, stack = set(), list(n.inputs)
        while stack:
            v = stack.pop()
            if v is self.C:
                return True
            if v in seen or v.producer is None or v.producer not in self.body.nodes:
                continue
            seen.add(v)
            stack.extend(v.producer.inputs)
        return False

    # -- entry ----------------------------------------------------------------------------------
    def emit(self):
        """Emit the kernel: its uniform scalar ops, then the tiled matmul with its epilogue."""
        b = self.b
        cx = self.cx_factory(b, 1)
        self.uvals = {}
        for n in self.uniform:
            args = [self._scalar(v) for v in n.inputs]
            self.uvals[n.outputs[0]] = lower_elementwise(cx, n, args)
            if n.outputs[0] in self.results and self.part is None:
                H.store(b, self.uvals[n.outputs[0]], self.results[n.outputs[0]].ptr,
                        n.outputs[0].dtype, H.i64(0))
        if self.uniform_only:
            return
        A, B = self.mm.inputs
        ta, tb = self.mm.attrs.get("transpose_a", False), self.mm.attrs.get("transpose_b", False)
        M, N = self.S[-2], self.S[-1]
        K = A.shape[-2] if ta else A.shape[-1]
        batch = self.S[:-2]
        self.epi_operands = list(dict.fromkeys(
            v for n in self.epi for v in n.inputs
            if v in self.operands and not scalar_const(v)))
        access = [A, B] + self.epi_operands + [v for v in self._stored()]
        self.bstrides = {}
        for v in access:  # A and B: only their batch strides are used
            full = batch + v.shape[-2:] if v in (A, B) else self.S
            self.bstrides[v] = _strides(v.shape, full)
        self.M, self.N, self.K, self.ta, self.tb = M, N, K, ta, tb
        self.pack = self.plan.pack
        form = {"dot": self._dot_form, "broadcast": self._broadcast_form,
                "naive": self._naive}[self.plan.form]
        slots = self.pack and self.panels is not None
        self.sweep = None
        if slots:
            self.slot = self._take_slot()
            size = self.dt.itemsize
            panel, extra = slot_elems(M, N, K, ta, self.plan, size)
            at = b.add(H.i64(SLOT_HEADER), b.mul(b.zext(self.slot, H.I64),
                                                  H.i64((panel + extra) * size)))
            self.slice = b.gep(self.panels, [at], source_etype=H.I8)
            self.sweep = _sweep_of(M, K, ta, self.plan, size)
            if self.sweep is not None:   # after the panel: the tiles' sums, A's copy
                self.partial = b.gep(self.slice, [H.i64(panel * size)], source_etype=H.I8)
                sums = _share_rows(M, self.plan) * _share_cols(N, self.plan) \
                    if self.sweep.blocks > 1 else 0
                self.acopy_buf = b.gep(self.partial, [H.i64(sums * size)], source_etype=H.I8)
        self.acopy = None   # (row_lo, k0, stride) while the tiles read A's copy
        self.valid = None   # columns of a zero-padded last panel that exist (None: all)
        self._batch_nest(0, batch, {v: H.i64(0) for v in access}, form)
        if slots:
            one = b.shl(ir.Constant(H.I32, 1), self.slot)
            b.atomic_rmw("and", self.panels, b.xor(one, ir.Constant(H.I32, -1)), "release")

    def _take_slot(self):
        """A free slice of the panel region for this task: the lowest clear bit of the region's
        mask, set atomically (at most as many tasks run at once as there are slices). A thread
        that runs task after task keeps getting the same slice back, warm in its cache."""
        b = self.b
        cttz = self.cx_factory(b, 1).declare("llvm.cttz.i32", H.I32, [H.I32, ir.IntType(1)])
        try_, got = b.append_basic_block("slot.try"), b.append_basic_block("slot.got")
        b.branch(try_)
        b.position_at_end(try_)
        m = b.load_atomic(self.panels, "acquire", 4, typ=H.I32)
        bit = b.call(cttz, [b.xor(m, ir.Constant(H.I32, -1)), ir.Constant(ir.IntType(1), 0)])
        new = b.or_(m, b.shl(ir.Constant(H.I32, 1), bit))
        res = b.cmpxchg(self.panels, m, new, "acq_rel", "acquire")
        b.cbranch(b.extract_value(res, 1), got, try_)
        b.position_at_end(got)
        return bit

    def _stored(self):
        out = []
        if self.C in self.results:
            out.append(self.C)
        out += [n.outputs[0] for n in self.epi if n.outputs[0] in self.results]
        return out

    def _batch_nest(self, d, batch, base, fn):
        b = self.b
        if d == len(batch):
            fn(base)
            return

        def body(i, c):
            nb = {v: (b.add(o, b.mul(i, H.i64(self.bstrides[v][d]))) if self.bstrides[v][d] else o)
                  for v, o in base.items()}
            self._batch_nest(d + 1, batch, nb, fn)
            return []
        H.loop(b, batch[d], body, name=f"batch{d}")

    def _scalar(self, v: Value):
        if v in self.uvals:
            return self.uvals[v]
        if scalar_const(v):
            return H.const(v.dtype, v.producer.attrs["value"].reshape(-1)[0])
        return H.load(self.b, self.operands[v].ptr, v.dtype, H.i64(0))

    def _share(self, t, n: int, units: int):
        """[lo, hi): the units task t of n handles, in contiguous chunks (IR values)."""
        b = self.b
        chunk = -(-units // n)
        lo = b.mul(t, H.i64(chunk))
        hi = b.add(lo, H.i64(chunk))
        return lo, b.select(b.icmp_signed("<", hi, H.i64(units)), hi, H.i64(units))

    def _row_loop(self, m_full: int, fn, rows=None):
        """Run fn(block index) over full row blocks: all of them, or the share of row group
        `rows` = (index, count)."""
        b = self.b
        if rows is None:
            if m_full:
                H.loop(b, m_full, lambda ib, c: (fn(ib), [])[1], name="ib")
            return
        lo, hi = self._share(*rows, m_full)
        H.loop(b, hi, lambda ib, c: (fn(ib), [])[1], start=lo, name="ib")

    def _if(self, cond, fn):
        """fn() where cond holds (always, when cond is None)."""
        if cond is None:
            fn()
        else:
            with self.b.if_then(cond):
                fn()

    # -- A and B element addressing --------------------------------------------------------------
    def _a_index(self, base, i, k):
        b = self.b
        A = self.mm.inputs[0]
        M, K = self.M, self.K
        if self.acopy is not None:   # the k block's copy of the task's rows
            lo, k0, stride = self.acopy
            if self.ta:
                return b.add(b.mul(b.sub(k, k0), H.i64(stride)), b.sub(i, lo))
            return b.add(b.mul(b.sub(i, lo), H.i64(stride)), b.sub(k, k0))
        if self.ta:  # A is stored (K, M)
            return b.add(base[A], b.add(b.mul(k, H.i64(M)), i))
        return b.add(base[A], b.add(b.mul(i, H.i64(K)), k))

    # -- broadcast form -------------------------------------------------------------------------
    def _broadcast_form(self, base):
        """Column panels of NR columns, each (packed, then) swept by all of this task's row
        blocks while it is in cache. Tasks split the panels first, then the row blocks; the
        remainder rows belong to the last row group, the remainder columns to whichever task's
        panel range reaches the end."""
        b = self.b
        M, N, VW, MR = self.M, self.N, self.VW, self.MR
        P = self.plan
        nr = VW * P.nr_vec
        n_full, rest = divmod(N, nr)
        m_full, m_rest = divmod(M, MR)
        col_units = n_full + (1 if rest else 0)
        if self.part is None:
            rows, c_lo, c_hi, last_rows, owns_rest = None, H.i64(0), H.i64(n_full), None, None
        else:
            t = self.part[0]
            tc, tr = b.udiv(t, H.i64(P.rows)), b.urem(t, H.i64(P.rows))
            rows = (tr, P.rows)
            c_lo, c_hi = self._share(tc, P.cols, col_units)
            last_rows = b.icmp_signed("==", tr, H.i64(P.rows - 1))
            # the remainder is column unit n_full: its owner's share contains it
            owns_rest = b.and_(b.icmp_signed("<=", c_lo, H.i64(n_full)),
                               b.icmp_signed("<", H.i64(n_full), c_hi)) if rest else None
            c_hi = b.select(b.icmp_signed("<", c_hi, H.i64(n_full)), c_hi, H.i64(n_full))

        def row_blocks(j0, widths, kr=None):
            """This task's row blocks for one column panel: B's panel stays in cache."""
            self.packed = self._pack_panel(base, j0, widths, kr) if self.pack else None
            sums = None if kr is None else (lambda i0: kr + (b.add(
                b.mul(b.sub(i0, row_lo), H.i64(share_cols)), b.sub(j0, col_lo)),))
            self._row_loop(m_full, lambda ib: self._bcast_tile(
                base, b.mul(ib, H.i64(MR)), MR, j0, widths,
                None if kr is None else sums(b.mul(ib, H.i64(MR)))), rows)
            if m_rest:
                i0 = H.i64(m_full * MR)
                self._if(last_rows, lambda: self._bcast_tile(
                    base, i0, m_rest, j0, widths, None if kr is None else sums(i0)))

        def panels(kr=None):
            H.loop(b, c_hi, lambda jp, c: (row_blocks(b.mul(jp, H.i64(nr)), [VW] * P.nr_vec,
                                                      kr), [])[1], start=c_lo, name="jp")
            if rest:
                self._if(owns_rest, lambda: self._rest_columns(
                    n_full * nr, rest, lambda j0, w: row_blocks(j0, w, kr)))

        if self.sweep is None:
            panels()
            return
        # K-blocking: one block of k rows at a time over the task's whole share of C, so the
        # block of A's rows stays in L2 across the column panels and each panel's block of B
        # in L1 across the row blocks; the sums wait in the slice between k blocks
        nkb, kc = self.sweep.blocks, self.sweep.kc
        share_cols = _share_cols(N, P)
        row_lo = H.i64(0) if rows is None else b.mul(rows[0], H.i64(-(-m_full // P.rows) * MR))
        col_lo = b.mul(c_lo, H.i64(nr))
        if rows is None:
            rows_hi = H.i64(M)
        else:   # the share's row blocks, and the remainder rows in the last row group
            _, hi = self._share(rows[0], rows[1], m_full)
            rows_hi = b.select(last_rows, H.i64(M), b.mul(hi, H.i64(MR)))

        def kblock(kb, c):
            k0 = b.mul(kb, H.i64(kc))
            k1 = b.add(k0, H.i64(kc))
            k1 = b.select(b.icmp_signed("<", k1, H.i64(self.K)), k1, H.i64(self.K))
            if self.sweep.copy_a:
                self._copy_a(base, row_lo, rows_hi, k0, k1)
            panels((k0, k1, b.icmp_signed("==", kb, H.i64(0)),
                    b.icmp_signed("==", kb, H.i64(nkb - 1))))
            self.acopy = None
            return []
        H.loop(b, nkb, kblock, name="kb")

    def _copy_a(self, base, lo, hi, k0, k1):
        """Copy rows lo..hi of A (columns, A stored transposed), k0..k1 of each, into the
        task's A copy; the tiles read it until self.acopy is reset."""
        b = self.b
        A = self.mm.inputs[0]
        src = self.operands[A].ptr
        VW = self.VW
        if self.ta:   # rows k of A^T, lo..hi contiguous: MR of them per k, block after block
            self._copy_a_transposed(base, lo, hi, k0, k1)
            return
        else:
            stride = self.sweep.kc + A_PAD
            outer, inner, o0, i0 = hi, k1, lo, k0

        def line(o, c):
            n = b.sub(inner, i0)
            nv = b.and_(n, H.i64(-VW))
            srow = b.add(base[A], b.mul(o, H.i64(self.K if not self.ta else self.M)))
            drow = b.mul(b.sub(o, o0), H.i64(stride))

            def vec(x, c2):
                v = H.load(b, src, self.dt, b.add(srow, b.add(i0, x)), VW)
                H.store(b, v, self.acopy_buf, self.dt, b.add(drow, x), VW)
                return []

            def one(x, c2):
                v = H.load(b, src, self.dt, b.add(srow, b.add(i0, x)))
                H.store(b, v, self.acopy_buf, self.dt, b.add(drow, x))
                return []
            H.loop(b, nv, vec, step=VW, name="acv")
            H.loop(b, n, one, start=nv, name="ac1")
            return []
        H.loop(b, outer, line, start=o0, name="acopy")
        self.acopy = (lo, k0, stride)

    def _copy_a_transposed(self, base, lo, hi, k0, k1):
        """A stored transposed: the tiles' micro-panels, row block after row block, each kc
        steps of MR contiguous elements (the tile's broadcasts read one stream)."""
        b = self.b
        A = self.mm.inputs[0]
        src = self.operands[A].ptr
        kc, MR = self.sweep.kc, self.MR
        full = b.udiv(b.sub(hi, lo), H.i64(MR))
        tail0 = b.add(lo, b.mul(full, H.i64(MR)))

        def krow(k, c):
            srow = b.add(base[A], b.mul(k, H.i64(self.M)))
            dk = b.mul(b.sub(k, k0), H.i64(MR))

            def block(blk, c2):
                i = b.add(lo, b.mul(blk, H.i64(MR)))
                v = H.load(b, src, self.dt, b.add(srow, i), MR)
                H.store(b, v, self.acopy_buf, self.dt,
                        b.add(b.mul(blk, H.i64(MR * kc)), dk), MR)
                return []

            def one(i, c2):
                v = H.load(b, src, self.dt, b.add(srow, i))
                H.store(b, v, self.acopy_buf, self.dt, b.add(
                    b.mul(full, H.i64(MR * kc)), b.add(dk, b.sub(i, tail0))))
                return []
            H.loop(b, full, block, name="acb")
            H.loop(b, hi, one, start=tail0, name="act")
            return []
        H.loop(b, k1, krow, start=k0, name="acopy")
        self.acopy = (lo, k0, None)

    def _rest_columns(self, j: int, rest: int, row_blocks):
        """The last columns, fewer than a panel: packed, one tile of whole vectors over a panel
        zero-padded to them (the missing columns' sums are never stored; a column's sum is the
        same FMA chain in a vector lane); else vectors of halving width, then one at a time."""
        b = self.b
        if self.pack and PAD_REST:
            self.valid = rest
            row_blocks(H.i64(j), [self.VW] * -(-rest // self.VW))
            self.valid = None
            return
        w = self.VW
        while w >= 4:
            if rest >= w:
                row_blocks(H.i64(j), [w])
                j, rest = j + w, rest - w
            w //= 2
        if rest:
            H.loop(b, j + rest, lambda jj, c: (row_blocks(jj, [1]), [])[1], start=j, name="jc")

    def _bcast_tile(self, base, i0, mr, j0, widths, kr=None):
        """One tile over all k, or with kr = (k0, k1, first, last, offset) over k0..k1: the
        sums start at zero in the first k block, else from the task's partial sums (the tile's
        corner at `offset`), and go through the epilogue after the last block, else back
        there. Either way each sum is one FMA chain over k in order."""
        b = self.b
        A, B = self.mm.inputs
        N, K = self.N, self.K
        st = H.scalar_type(self.dt)
        fma_fns = {w: self.cx_factory(b, w).intrinsic("fma", st if w == 1 else
                                                      ir.VectorType(st, w), 3) for w in set(widths)}
        zeros = [H.const(self.dt, 0, w) for _ in range(mr) for w in widths]

        pw = sum(widths)

        def kstep(k, accs):
            bvs = []
            if self.packed is not None:  # the panel, contiguous: row k at (k - k0) * pw
                src, off = self.packed, b.mul(k if kr is None else b.sub(k, kr[0]), H.i64(pw))
            else:
                src, off = self.operands[B].ptr, b.add(base[B], b.add(b.mul(k, H.i64(N)), j0))
            col = 0
            for w in widths:
                bvs.append(H.load(b, src, self.dt, b.add(off, H.i64(col)) if col else off, w))
                col += w
            out = []
            a_src = self.operands[A].ptr if self.acopy is None else self.acopy_buf
            micro = None
            if self.acopy is not None and self.acopy[2] is None:   # A^T's micro-panels
                lo, k0 = self.acopy[:2]
                micro = b.add(b.mul(b.sub(i0, lo), H.i64(self.sweep.kc)),
                              b.mul(b.sub(k, k0), H.i64(self.MR)))
            for r in range(mr):
                a = H.load(b, a_src, self.dt,
                           self._a_index(base, b.add(i0, H.i64(r)), k) if micro is None
                           else b.add(micro, H.i64(r)))
                for q, w in enumerate(widths):
                    acc = accs[r * len(widths) + q]
                    out.append(b.call(fma_fns[w], [H.splat(b, a, w), bvs[q], acc]))
            return out

        if kr is None:
            accs = H.loop(b, K, kstep, zeros, name="k")
            self._finish_tile(base, i0, mr, j0, widths, accs)
            return
        k0, k1, first, last, off = kr
        cols = [sum(widths[:q]) for q in range(len(widths))]
        nr = _share_cols(self.N, self.plan)   # the partial sums' row stride
        pre = b.block
        with b.if_then(b.not_(first)):
            saved = [H.load(b, self.partial, self.dt, b.add(off, H.i64(r * nr + cols[q])), w)
                     for r in range(mr) for q, w in enumerate(widths)]
            got = b.block
        init = []
        for z, v in zip(zeros, saved):
            phi = b.phi(z.type)
            phi.add_incoming(z, pre)
            phi.add_incoming(v, got)
            init.append(phi)
        accs = H.loop(b, k1, kstep, init, start=k0, name="k")
        with b.if_else(last) as (then, otherwise):
            with then:
                self._finish_tile(base, i0, mr, j0, widths, accs)
            with otherwise:
                for r in range(mr):
                    for q, w in enumerate(widths):
                        H.store(b, accs[r * len(widths) + q], self.partial, self.dt,
                                b.add(off, H.i64(r * nr + cols[q])), w)

    def _finish_tile(self, base, i0, mr, j0, widths, accs):
        """The finished tile's sums through the epilogue (and into C)."""
        b = self.b
        if mr > 1 and len(self.epi) >= EPILOGUE_LOOP_MIN_OPS:
            self._epilogue_rows(base, i0, mr, j0, widths, accs)
            return
        for r in range(mr):
            col = 0
            for q, w in enumerate(widths):
                i = b.add(i0, H.i64(r))
                self._epilogue_piece(base, i, j0, col, w, accs[r * len(widths) + q])
                col += w

    def _epilogue_piece(self, base, i, j0, col: int, w: int, acc):
        """The epilogue of one vector of a tile row (columns j0 + col ...): whole, or lane by
        lane where the zero-padded last panel ends inside it."""
        b = self.b
        valid = w if self.valid is None else min(w, self.valid - col)
        if valid == w:
            self._epilogue(base, i, b.add(j0, H.i64(col)) if col else j0, acc, w)
            return
        for c in range(max(valid, 0)):
            self._epilogue(base, i, b.add(j0, H.i64(col + c)),
                           b.extract_element(acc, ir.Constant(ir.IntType(32), c)), 1)

    def _tile_buffer(self):
        """The 64-byte aligned stack tile (MR x NR elements) of this kernel function, made once
        (allocas belong to the entry block)."""
        if self._tile is None:
            b = self.b
            entry = b.function.entry_basic_block
            with b.goto_block(entry):
                b.position_at_start(entry)
                self._tile = b.alloca(H.mem_type(self.dt),
                                      size=H.i64(self.MR * self.VW * self.plan.nr_vec))
                self._tile.align = 64
        return self._tile

    def _epilogue_rows(self, base, i0, mr, j0, widths, accs):
        """A long epilogue (an optimizer update) as a loop over the tile's rows: the
        accumulators go to a small stack tile first, so the epilogue's code is emitted once per
        row instead of MR times (compile time), at the cost of an L1 round trip per vector."""
        b = self.b
        pw = sum(widths)
        buf = self._tile_buffer()
        for r in range(mr):
            col = 0
            for q, w in enumerate(widths):
                H.store(b, accs[r * len(widths) + q], buf, self.dt, H.i64(r * pw + col), w)
                col += w

        def row(r, c):
            col = 0
            for w in widths:
                acc = H.load(b, buf, self.dt, b.add(b.mul(r, H.i64(pw)), H.i64(col)), w)
                self._epilogue_piece(base, b.add(i0, r), j0, col, w, acc)
                col += w
            return []
        H.loop(b, mr, row, name="epi")

    def _pack_panel(self, base, j0, widths: list[int], kr=None):
        """Copy B's columns j0..j0+pw (all K rows, or rows kr[0]..kr[1]) into this task's arena
        slice, transposing when B is stored transposed. Removes power-of-two strides
        (cache-set conflicts) and page crossings from the k loop, and lets `x @ W^T` use the
        broadcast kernel."""
        if self.unfold is not None:
            return self._pack_unfold(j0, widths, kr)
        b = self.b
        B = self.mm.inputs[1]
        K, N, pw = self.K, self.N, sum(widths)
        assert self.panels is not None, "a packing matmul kernel needs its arena panel region"
        buf = self.slice
        src = self.operands[B].ptr
        k0, k1 = (H.i64(0), H.i64(K)) if kr is None else kr[:2]

        valid = pw if self.valid is None else self.valid
        zero = H.const(self.dt, 0)

        def row(k, c):
            dst = b.mul(b.sub(k, k0), H.i64(pw))
            if valid < pw:   # a zero-padded last panel, element by element
                for col in range(pw):
                    if col >= valid:
                        v = zero
                    elif self.tb:
                        v = H.load(b, src, self.dt, b.add(base[B], b.add(
                            b.mul(b.add(j0, H.i64(col)), H.i64(K)), k)))
                    else:
                        v = H.load(b, src, self.dt, b.add(base[B], b.add(
                            b.mul(k, H.i64(N)), b.add(j0, H.i64(col)))))
                    H.store(b, v, buf, self.dt, b.add(dst, H.i64(col)))
                return []
            if self.tb:  # B stored (N, K): one element from each of pw rows
                for col in range(pw):
                    v = H.load(b, src, self.dt,
                               b.add(base[B], b.add(b.mul(b.add(j0, H.i64(col)), H.i64(K)), k)))
                    H.store(b, v, buf, self.dt, b.add(dst, H.i64(col)))
                return []
            row0 = b.add(base[B], b.add(b.mul(k, H.i64(N)), j0))
            col = 0
            for w in widths:  # B's row k, contiguous: whole vectors
                v = H.load(b, src, self.dt, b.add(row0, H.i64(col)), w)
                H.store(b, v, buf, self.dt, b.add(dst, H.i64(col)), w)
                col += w
            return []

        def block8(k, c):
            """B stored (N, K): 8 k x 8 columns at a time, transposed in registers."""
            for c0 in range(0, pw, 8):
                rows = [H.load(b, src, self.dt, b.add(base[B], b.add(
                    b.mul(b.add(j0, H.i64(c0 + r)), H.i64(K)), k)), 8) for r in range(8)]
                for m, v in enumerate(H.transpose8(b, rows)):
                    H.store(b, v, buf, self.dt,
                            b.add(b.mul(b.add(b.sub(k, k0), H.i64(m)), H.i64(pw)), H.i64(c0)), 8)
            return []

        if self.tb and pw % 8 == 0 and K >= TRANSPOSE_MIN_K and valid == pw:
            k8 = b.add(k0, b.and_(b.sub(k1, k0), H.i64(-8)))
            H.loop(b, k8, block8, start=k0, step=8, name="pack8")
            H.loop(b, k1, row, start=k8, name="pack")
            return buf
        H.loop(b, k1, row, start=k0, name="pack")
        return buf

    def _unfold_geometry(self):
        """The packed unfold's image x, its sizes, the unfold's geometry, and its output grid:
        Wo and L = Ho*Wo pixels per image."""
        x, a = self.unfold.inputs[0], self.unfold.attrs
        g = dict(x=x, C=x.shape[1], IH=x.shape[2], IW=x.shape[3], kernel=a["kernel"],
                 dilation=a["dilation"], stride=a["stride"], pad=a["pad_lo"], pad_hi=a["pad_hi"])
        ho, wo = (blocks(x.shape[2 + d], a["kernel"][d], a["dilation"][d], a["stride"][d],
                         a["pad_lo"][d], a["pad_hi"][d]) for d in (0, 1))
        g["wo"], g["L"] = wo, ho * wo
        return g

    def _intrinsic(self, kind: str, w: int):
        """llvm.masked.load or llvm.masked.gather of w lanes of the kernel's dtype."""
        dt = self.dt
        vt, i32 = H.vtype(dt, w), ir.IntType(32)
        mt, et = ir.VectorType(ir.IntType(1), w), "f32" if dt.name == "f32" else "f64"
        cx = self.cx_factory(self.b, 1)
        if kind == "gather":
            return cx.declare(f"llvm.masked.gather.v{w}{et}.v{w}p0", vt,
                              [ir.VectorType(ir.PointerType(), w), i32, mt, vt])
        return cx.declare(f"llvm.masked.load.v{w}{et}.p0", vt, [ir.PointerType(), i32, mt, vt])

    def _pixel_lanes(self, g, p0, w: int):
        """For the w consecutive output pixels from p0 (an i32; p = (n*Ho + oh)*Wo + ow, the
        columns of the batch_last unfold): (h base, w base, element base, runs) as i32 vectors.
        The element of tap (c, i, j) at pixel p is x[base + c*H*W + i*dh*W + j*dw], inside x
        where h base + i*dh and w base + j*dw are. Runs, at stride 1 where the w pixels lie in
        at most MAX_RUNS output rows: per row (its lanes' mask, the x offset of lane 0 were the
        row to start there), each row's pixels contiguous in x; else None (a gather)."""
        b, i32 = self.b, ir.IntType(32)
        sh, sw = g["stride"]
        ph, pw = g["pad"]
        wo, chw = g["wo"], g["C"] * g["IH"] * g["IW"]

        def vec(v):
            return H.splat(b, ir.Constant(i32, v) if isinstance(v, int) else v, w)
        p = b.add(vec(p0), ir.Constant(ir.VectorType(i32, w), list(range(w))))
        n, l = b.udiv(p, vec(g["L"])), b.urem(p, vec(g["L"]))
        oh, ow = b.udiv(l, vec(wo)), b.urem(l, vec(wo))
        hb = b.sub(b.mul(oh, vec(sh)), vec(ph))
        wb = b.sub(b.mul(ow, vec(sw)), vec(pw))
        base = b.add(b.mul(n, vec(chw)), b.add(b.mul(hb, vec(g["IW"])), wb))
        rows = 1 + -(-(w - 1) // wo)
        if sw != 1 or rows > MAX_RUNS:
            return hb, wb, base, None
        runs, r0 = [], b.udiv(p0, ir.Constant(i32, wo))   # lane 0's row of the whole batch
        rel = b.sub(b.udiv(p, vec(wo)), vec(r0))
        ho = ir.Constant(i32, g["L"] // wo)
        for s in range(rows):
            r = b.add(r0, ir.Constant(i32, s))
            hs = b.sub(b.mul(b.urem(r, ho), ir.Constant(i32, sh)), ir.Constant(i32, ph))
            start = b.add(b.mul(b.udiv(r, ho), ir.Constant(i32, chw)),
                          b.mul(hs, ir.Constant(i32, g["IW"])))
            start = b.add(b.sub(start, b.mul(r, ir.Constant(i32, wo))),
                          b.sub(p0, ir.Constant(i32, pw)))
            runs.append((b.icmp_unsigned("==", rel, vec(s)), start))
        return hb, wb, base, runs

    def _tap(self, g, r):
        """Kernel offset r = i*kw + j (an i64) as i32 (h offset i*dh, w offset j*dw, its part
        of the element offset i*dh*W + j*dw)."""
        b, i32 = self.b, ir.IntType(32)
        kw = g["kernel"][1]
        (dh, dw) = g["dilation"]
        i, jj = b.trunc(b.udiv(r, H.i64(kw)), i32), b.trunc(b.urem(r, H.i64(kw)), i32)
        ioff, joff = b.mul(i, ir.Constant(i32, dh)), b.mul(jj, ir.Constant(i32, dw))
        return ioff, joff, b.add(b.mul(ioff, ir.Constant(i32, g["IW"])), joff)

    def _tap_reads(self, g, lanes, tap, w: int, live=None):
        """How to read one kernel offset's values at w pixels (lanes, from _pixel_lanes) for
        any channel: ("runs", [(lane mask, x offset of lane 0)] one per output row the pixels
        span, at stride 1) or ("gather", lane mask, x offsets per lane), masked to the lanes
        inside x (and `live`). The channel's c*H*W is added by _image_vector."""
        b, i32 = self.b, ir.IntType(32)
        hb, wb, base, segs = lanes
        ioff, joff, roff = tap

        def vec(v):
            return H.splat(b, v, w)
        m = live   # an axis without padding needs no test: every tap of a pixel lies in x
        for axis, at, off, size in ((0, hb, ioff, g["IH"]), (1, wb, joff, g["IW"])):
            if g["pad"][axis] or g["pad_hi"][axis]:
                inside = b.icmp_unsigned("<", b.add(at, vec(off)), vec(ir.Constant(i32, size)))
                m = inside if m is None else b.and_(m, inside)
        if segs is not None:
            return "runs", [(lanes_of_row if m is None else b.and_(m, lanes_of_row),
                             b.add(start, roff)) for lanes_of_row, start in segs]
        return "gather", m if m is not None else ir.Constant(
            ir.VectorType(ir.IntType(1), w), [1] * w), b.add(base, vec(roff))

    def _image_vector(self, g, reads, coff, w: int):
        """The w values of one unfold row: a kernel offset's `reads` (_tap_reads) for the
        channel whose elements start coff (an i32, c*H*W) into each image: one masked vector
        load per output row, or one masked gather; 0 outside x."""
        b, i32, dt = self.b, ir.IntType(32), self.dt
        align, ptr = ir.Constant(i32, dt.itemsize), self.operands[g["x"]].ptr
        zero = H.const(dt, 0, w)
        if reads[0] == "runs":
            load, v = self._intrinsic("load", w), zero
            for mask, start in reads[1]:
                at = b.gep(ptr, [b.sext(b.add(start, coff), H.I64)], source_etype=H.mem_type(dt))
                v = b.call(load, [at, align, mask, v])
            return v
        _, m, offs = reads
        idx = b.sext(b.add(offs, H.splat(b, coff, w)), ir.VectorType(H.I64, w))
        addr = b.add(H.splat(b, b.ptrtoint(ptr, H.I64), w),
                     b.mul(idx, H.splat(b, H.i64(dt.itemsize), w)))
        return b.call(self._intrinsic("gather", w),
                      [b.inttoptr(addr, ir.VectorType(ir.PointerType(), w)), align, m, zero])

    def _pack_unfold(self, j0, widths: list[int], kr=None):
        """Pack the panel of B = unfold(x) (the batch_last im2col columns) straight from the
        image x: the implicit GEMM. B[k, j] = x[n, c, oh*sh + i*dh - ph, ow*sw + jj*dw - pw]
        (0 outside x) for k = (c*kh + i)*kw + jj and j = (n*Ho + oh)*Wo + ow. The element's
        offset splits into a part of the column, n*C*H*W + (oh*sh - ph)*W + (ow*sw - pw),
        computed once per panel in int32 lanes, a part of the kernel offset, i*dh*W + jj*dw,
        and the channel's c*H*W. The rows are packed kernel offset by kernel offset: its masks
        (the lanes that fall inside x) are computed once, then each channel's row is one masked
        gather per vector; at stride 1, where a vector's lanes lie in at most MAX_RUNS output
        rows, one masked vector load per row instead (each row's run is contiguous in x).
        The values are B's, so the sums are the same FMA chains."""
        if self.tb:
            return self._pack_unfold_t(j0, widths, kr)
        b = self.b
        g = self._unfold_geometry()
        pw = sum(widths)
        valid = pw if self.valid is None else self.valid
        k0, k1 = (H.i64(0), H.i64(self.K)) if kr is None else kr[:2]
        taps = g["kernel"][0] * g["kernel"][1]
        i32 = ir.IntType(32)
        lanes = []   # per vector: (width, column, pixel lanes, live lanes)
        col, j0_32 = 0, b.trunc(j0, i32)
        for w in widths:
            p0 = b.add(j0_32, ir.Constant(i32, col))
            live = None if col + w <= valid else ir.Constant(
                ir.VectorType(ir.IntType(1), w), [int(col + q < valid) for q in range(w)])
            lanes.append((w, col, self._pixel_lanes(g, p0, w), live))
            col += w

        def offset(r, c):
            tap = self._tap(g, r)
            reads = [self._tap_reads(g, px, tap, w, live) for w, col, px, live in lanes]

            def channel(ch, c2):   # row k = ch*taps + r
                dst = b.mul(b.sub(b.add(b.mul(ch, H.i64(taps)), r), k0), H.i64(pw))
                coff = b.trunc(b.mul(ch, H.i64(g["IH"] * g["IW"])), i32)
                for (w, col, _, _), rd in zip(lanes, reads):
                    H.store(b, self._image_vector(g, rd, coff, w), self.slice, self.dt,
                            b.add(dst, H.i64(col)), w)
                return []
            # the channels whose row of this offset lies in k0..k1
            lo = b.udiv(b.sub(b.add(k0, H.i64(taps - 1)), r), H.i64(taps))
            hi = b.udiv(b.sub(b.add(k1, H.i64(taps - 1)), r), H.i64(taps))
            H.loop(b, hi, channel, start=lo, name="pack_channel")
            return []
        H.loop(b, taps, offset, name="pack_offset")
        return self.slice

    def _pack_unfold_t(self, j0, widths: list[int], kr=None):
        """Pack the panel of B = unfold(x)^T (a convolution's weight gradient, g @ cols^T):
        B[k, j] is tap j at output pixel k. Eight pixels at a time: each of the panel's taps
        loads its eight values along k as _pack_unfold loads a row (a masked vector load per
        output row at stride 1, else a gather), and every eight taps are transposed in
        registers into eight panel rows; the last k rows (fewer than eight) element by element.
        The values are B's, so the sums are the same FMA chains."""
        b, dt = self.b, self.dt
        g = self._unfold_geometry()
        pw = sum(widths)
        valid = pw if self.valid is None else self.valid
        k0, k1 = (H.i64(0), H.i64(self.K)) if kr is None else kr[:2]
        i32 = ir.IntType(32)
        n_off, hw = g["kernel"][0] * g["kernel"][1], g["IH"] * g["IW"]
        taps = []   # per column j0 + col: (its kernel offset's parts, its channel's c*H*W)
        for col in range(valid):
            j = b.add(j0, H.i64(col))
            taps.append((self._tap(g, b.urem(j, H.i64(n_off))),
                         b.trunc(b.mul(b.udiv(j, H.i64(n_off)), H.i64(hw)), i32)))
        zero = H.const(dt, 0, 8)

        def block8(k, c):
            px = self._pixel_lanes(g, b.trunc(k, i32), 8)
            for c0 in range(0, pw, 8):
                cols = [self._image_vector(g, self._tap_reads(g, px, taps[c0 + r][0], 8),
                                           taps[c0 + r][1], 8) if c0 + r < valid else zero
                        for r in range(8)]
                for m, v in enumerate(H.transpose8(b, cols)):
                    H.store(b, v, self.slice, dt,
                            b.add(b.mul(b.add(b.sub(k, k0), H.i64(m)), H.i64(pw)), H.i64(c0)), 8)
            return []

        def row(k, c):   # one pixel: each tap's element, 0 outside x
            (sh, sw), (ph, pwd) = g["stride"], g["pad"]
            n, l = b.udiv(k, H.i64(g["L"])), b.urem(k, H.i64(g["L"]))
            hb = b.trunc(b.sub(b.mul(b.udiv(l, H.i64(g["wo"])), H.i64(sh)), H.i64(ph)), i32)
            wb = b.trunc(b.sub(b.mul(b.urem(l, H.i64(g["wo"])), H.i64(sw)), H.i64(pwd)), i32)
            at = b.add(b.mul(b.trunc(n, i32), ir.Constant(i32, g["C"] * g["IH"] * g["IW"])),
                       b.add(b.mul(hb, ir.Constant(i32, g["IW"])), wb))
            dst = b.mul(b.sub(k, k0), H.i64(pw))
            for col in range(pw):
                v = H.const(dt, 0)
                if col < valid:
                    (ioff, joff, roff), coff = taps[col]
                    off = b.add(roff, coff)
                    inside = b.and_(
                        b.icmp_unsigned("<", b.add(hb, ioff), ir.Constant(i32, g["IH"])),
                        b.icmp_unsigned("<", b.add(wb, joff), ir.Constant(i32, g["IW"])))
                    idx = b.select(inside, b.sext(b.add(at, off), H.I64), H.i64(0))
                    v = b.select(inside, H.load(b, self.operands[g["x"]].ptr, dt, idx), v)
                H.store(b, v, self.slice, dt, b.add(dst, H.i64(col)))
            return []

        if pw % 8 == 0 and self.K >= TRANSPOSE_MIN_K:
            k8 = b.add(k0, b.and_(b.sub(k1, k0), H.i64(-8)))
            H.loop(b, k8, block8, start=k0, step=8, name="pack8_unfold")
            H.loop(b, k1, row, start=k8, name="pack_unfold")
        else:
            H.loop(b, k1, row, start=k0, name="pack_unfold")
        return self.slice

    # -- dot form ------------------------------------------------------------------------------
    def _dot_form(self, base):
        b = self.b
        M, N = self.M, self.N
        mr_t, nr_t = (DOT_MR, DOT_NR) if M >= DOT_MR else (1, DOT_NR1)
        n_full = N // nr_t
        split = self.part is not None and self.plan.cols > 1
        if split:   # this task's share of the column tiles; the last task's takes the rest
            c_lo, c_hi = self._share(self.part[0], self.plan.cols, n_full)
            owns_rest = b.icmp_signed("==", self.part[0], H.i64(self.plan.cols - 1))
        else:
            c_lo, c_hi, owns_rest = H.i64(0), H.i64(n_full), None

        def tiles(i0, mr):
            if n_full:
                H.loop(b, c_hi, lambda jb, c: (self._dot_tile(base, i0, mr,
                                                              b.mul(jb, H.i64(nr_t)), nr_t),
                                               [])[1], start=c_lo, name="jb")
            if N % nr_t:
                self._if(owns_rest, lambda: self._dot_tile(base, i0, mr, H.i64(n_full * nr_t),
                                                           N % nr_t))

        m_full = M // mr_t
        rows = None if self.part is None or split else (self.part[0], self.plan.rows)
        self._row_loop(m_full, lambda ib: tiles(b.mul(ib, H.i64(mr_t)), mr_t), rows)
        if M % mr_t:
            last = None if rows is None else b.icmp_signed("==", rows[0], H.i64(rows[1] - 1))
            self._if(last, lambda: tiles(H.i64(m_full * mr_t), M % mr_t))

    def _dot_tile(self, base, i0, mr, j0, nr):
        b = self.b
        A, B = self.mm.inputs
        K, VW = self.K, self.VW
        st = H.scalar_type(self.dt)
        vt = ir.VectorType(st, VW)
        fma = self.cx_factory(b, VW).intrinsic("fma", vt, 3)
        kv = K // VW * VW
        a_rows = [b.add(base[A], b.mul(b.add(i0, H.i64(r)), H.i64(K))) for r in range(mr)]
        b_rows = [b.add(base[B], b.mul(b.add(j0, H.i64(c)), H.i64(K))) for c in range(nr)]
        accs = [H.const(self.dt, 0, VW) for _ in range(mr * nr)]
        if kv:
            def kstep(k, accs):
                av = [H.load(b, self.operands[A].ptr, self.dt, b.add(a, k), VW) for a in a_rows]
                bv = [H.load(b, self.operands[B].ptr, self.dt, b.add(x, k), VW) for x in b_rows]
                return [b.call(fma, [av[r], bv[c], accs[r * nr + c]])
                        for r in range(mr) for c in range(nr)]
            accs = H.loop(b, kv, kstep, accs, step=VW, name="k")
        sums = [H.hsum(b, a, VW) for a in accs]
        if kv < K:
            fma1 = self.cx_factory(b, 1).intrinsic("fma", st, 3)

            def tail(k, s):
                av = [H.load(b, self.operands[A].ptr, self.dt, b.add(a, k)) for a in a_rows]
                bv = [H.load(b, self.operands[B].ptr, self.dt, b.add(x, k)) for x in b_rows]
                return [b.call(fma1, [av[r], bv[c], s[r * nr + c]])
                        for r in range(mr) for c in range(nr)]
            sums = H.loop(b, K, tail, sums, start=kv, name="kt")
        for r in range(mr):
            for c in range(nr):
                self._epilogue(base, b.add(i0, H.i64(r)), b.add(j0, H.i64(c)), sums[r * nr + c], 1)

    # -- anything else: a plain triple loop -----------------------------------------------------
    def _naive(self, base):
        b = self.b
        A, B = self.mm.inputs
        M, N, K = self.M, self.N, self.K
        dt = self.dt

        def row(i, c):
            def col(j, c2):
                def kk(k, acc):
                    a = H.load(b, self.operands[A].ptr, dt, self._a_index(base, i, k))
                    bi = (b.add(base[B], b.add(b.mul(j, H.i64(K)), k)) if self.tb else
                          b.add(base[B], b.add(b.mul(k, H.i64(N)), j)))
                    x = H.load(b, self.operands[B].ptr, dt, bi)
                    p = b.fmul(a, x) if dt.is_float else b.mul(a, x)
                    return [b.fadd(acc[0], p) if dt.is_float else b.add(acc[0], p)]
                (s,) = H.loop(b, K, kk, [H.const(dt, 0)], name="k")
                self._epilogue(base, i, j, s, 1)
                return []
            H.loop(b, N, col, name="j")
            return []
        H.loop(b, M, row, name="i")

    # -- the fused epilogue on one tile row segment ----------------------------------------------
    def _epilogue(self, base, i, j, cval, w):
        """Run the epilogue for C[i, j:j+w] = cval, reading other operands at the same place."""
        b = self.b
        cx = self.cx_factory(b, w)
        N = self.N
        vals = {self.C: cval}

        def offset(v):
            st = self.bstrides[v]
            o = base[v]
            si, sj = st[-2], st[-1]
            if si:
                o = b.add(o, b.mul(i, H.i64(si)))
            if sj:
                o = b.add(o, j if sj == 1 else b.mul(j, H.i64(sj)))
            return o, sj

        def arg(v):
            if v in vals:
                return vals[v]
            if v in self.uvals:
                return H.splat(b, self.uvals[v], w)
            if scalar_const(v):
                return H.const(v.dtype, v.producer.attrs["value"].reshape(-1)[0], w)
            o, sj = offset(v)
            if sj == 1:
                x = H.load(b, self.operands[v].ptr, v.dtype, o, w)
            else:
                x = H.splat(b, H.load(b, self.operands[v].ptr, v.dtype, o), w)
            vals[v] = x  # read once, before any in-place store of this element
            return x

        stores = [self.C] if self.C in self.results else []
        for n in self.epi:
            vals[n.outputs[0]] = lower_elementwise(cx, n, [arg(v) for v in n.inputs])
            if n.outputs[0] in self.results:
                stores.append(n.outputs[0])
        for v in stores:  # after every read: an in-place weight update reads the old weight
            o, _ = offset(v)
            H.store(b, vals[v], self.results[v].ptr, v.dtype, o, w)
        del N
