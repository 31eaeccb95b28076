"""graphc's random numbers: torch's rand/randn/randint/... on a counter-based Philox generator.

Every draw is one `philox` primitive (graphc/ir/ops/random.py: Philox 4x32-10, uniform floats
from the top 24 (float32) / 53 (float64) bits, in [0, 1) as torch; normals by Box-Muller) reading
a generator's state, an i64[2] array (seed, offset) held in a Buffer. Eagerly the draw runs on
the interpreter and the offset advances in that array. Inside `graphc.compile` the state is a
state input of the graph like any Buffer (read through `Trace.current`), and the traced
`state + [0, blocks]` is its state update: each compiled call draws fresh numbers and writes the
advanced counter back in place, so `graphc.manual_seed(s)` makes eager and compiled runs
reproducible, and the interpreter, the LLVM backend and any thread count give the same bits.

The rest are compositions: randint (floor of a float64 uniform times the range), bernoulli and
dropout masks (uniform < p), randperm (the ranks of uniforms, ties broken by index: the stable
argsort's inverse), multinomial (with replacement: count of cdf entries <= u * total; without:
the exponential race, ranks of -log(1 - u) / p).

`graphc.random.uniform` / `randn` (NumPy arrays) remain the initialisers nn.Linear uses; they
are seeded by `manual_seed` too.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import dtypes
from . import functions as G
from .driver import tracing
from .errors import InputError
from .ir.ops.random import philox_blocks
from .nn.parameter import Buffer
from .tensor import Tensor, apply, as_array

DEFAULT_SEED = 67280421310721   # torch's default CPU seed
_rng = np.random.default_rng()


def _check_device(device) -> None:
    if device is not None and str(device) not in ("cpu", "cpu:0"):
        raise InputError(f"graphc runs on the CPU only; device={device!r} is not supported")


class _RngState(Buffer):
    """A generator's (seed, offset) i64[2] array; inside a trace it is graph state."""

    _state_hint = "rng_state"


def _u64_as_i64(seed: int) -> int:
    return int(np.uint64(int(seed) % 2 ** 64).view(np.int64))


class Generator:
    """torch.Generator: a Philox 4x32-10 stream (seed -> key, a 64-bit counter offset)."""

    def __init__(self, device="cpu"):
        _check_device(device)
        self._initial = DEFAULT_SEED
        self._state = _RngState(np.array([_u64_as_i64(DEFAULT_SEED), 0], np.int64))

    @property
    def device(self) -> str:
        """Where the generator's numbers are made: always "cpu"."""
        return "cpu"

    def manual_seed(self, seed) -> "Generator":
        """Reset the stream to `seed` (any integer; taken modulo 2^64) at offset 0."""
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise InputError(f"manual_seed needs an int, got {seed!r}")
        seed = int(seed)
        if not -2 ** 63 <= seed < 2 ** 64:
            raise InputError(f"seed {seed} is out of range [-2^63, 2^64)")
        self._initial = seed % 2 ** 64
        new = np.array([_u64_as_i64(seed), 0], np.int64)
        if tracing.current() is not None:
            self._state._assign(G.tensor(new))   # seeding inside a step: every call reseeds
        else:
            np.copyto(self._state._data, new)
        return self

    def seed(self) -> int:
        """Seed from the OS's entropy; returns the seed."""
        s = int.from_bytes(os.urandom(8), "little") >> 1   # torch's seeds fit in 63 bits
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._initial

    def get_state(self) -> Tensor:
        """A copy of the (seed, offset) state as an int64 tensor of 2 elements."""
        if tracing.current() is not None:
            return self._state.clone()
        return Tensor(self._state._data.copy())

    def set_state(self, state) -> "Generator":
        """Restore a state from get_state()."""
        if tracing.current() is not None and isinstance(state, Tensor):
            self._state._assign(state)
            return self
        arr = np.asarray(state._data if isinstance(state, Tensor) else as_array(state))
        if arr.shape != (2,) or arr.dtype.kind not in "iu":
            raise InputError(f"a generator state is an int64 tensor of 2 elements, got "
                             f"{arr.dtype}{list(arr.shape)}")
        np.copyto(self._state._data, arr.astype(np.int64))
        return self

    def __repr__(self) -> str:
        return "<graphc.Generator (Philox 4x32-10)>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (and nn.Linear's initialiser), as torch.manual_seed."""
    global _rng
    default_generator.manual_seed(seed)
    _rng = np.random.default_rng(int(seed) % 2 ** 64)
    return default_generator


def seed() -> int:
    """Seed the default generator from the OS's entropy; returns the seed."""
    s = default_generator.seed()
    global _rng
    _rng = np.random.default_rng(s)
    return s


def initial_seed() -> int:
    """The default generator's seed."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state (an int64 tensor: seed, offset)."""
    return default_generator.get_state()


def set_rng_state(state) -> None:
    """Restore the default generator's state from get_rng_state()."""
    default_generator.set_state(state)


# ---- NumPy initialisers (nn.Linear) ----------------------------------------------------------

def generator() -> np.random.Generator:
    """The NumPy Generator behind nn.Linear's parameter initialisation."""
    return _rng


def uniform(shape, low: float, high: float, dtype=np.float32) -> np.ndarray:
    """An array of `shape` drawn uniformly from [low, high), as `dtype`."""
    return _rng.uniform(low, high, size=shape).astype(dtype)


def randn_array(*shape, dtype=np.float32) -> np.ndarray:
    """An array of the given shape drawn from the standard normal distribution, as `dtype`."""
    return _rng.standard_normal(size=shape).astype(dtype)


# ---- the draws ---------------------------------------------------------------------------------

def _size(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for d in size:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0:
            raise InputError(f"a size must be non-negative ints, got {list(size)}")
        out.append(int(d))
    return tuple(out)


def _float_dtype(dtype, what: str):
    dt = dtypes.float32 if dtype is None else dtypes.as_dtype(dtype)
    if not dt.is_float:
        raise InputError(f"{what}: dtype must be a float dtype, got {dt}")
    return dt


def _gen(generator) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise InputError(f"generator must be a graphc.Generator, got {type(generator).__name__}")
    return generator


def draw(shape, dtype=dtypes.float32, dist: str = "uniform", generator=None) -> Tensor:
    """`shape` values from the generator (uniform [0, 1) or standard normal); advances it."""
    gen = _gen(generator)
    dt = dtypes.as_dtype(dtype)
    st = gen._state
    out = apply("philox", st, shape=tuple(shape), dtype=dt, dist=dist)
    blocks = philox_blocks(math.prod(shape), dt)
    if blocks:
        if tracing.current() is None:
            st._data[1] = np.int64(st._data[1]) + np.int64(blocks)
        else:
            st._assign(apply("add", st, np.array([0, blocks], np.int64)))
    return out


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False,
         layout=None, pin_memory=False) -> Tensor:
    """Uniform [0, 1) values of the given size (torch.rand)."""
    _check_device(device)
    return _finish(draw(_size(size), _float_dtype(dtype, "rand"), "uniform", generator),
                   requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False,
          layout=None, pin_memory=False) -> Tensor:
    """Standard normal values of the given size (torch.randn)."""
    _check_device(device)
    return _finish(draw(_size(size), _float_dtype(dtype, "randn"), "normal", generator),
                   requires_grad)


def _like_dtype(input, dtype, what):
    return _float_dtype(dtype if dtype is not None else G._t(input).dtype, what)


def rand_like(input, *, dtype=None, device=None, requires_grad: bool = False,
              generator=None, memory_format=None, layout=None) -> Tensor:
    """rand of input's shape and (float) dtype."""
    _check_device(device)
    x = G._t(input)
    return _finish(draw(x.shape, _like_dtype(x, dtype, "rand_like"), "uniform", generator),
                   requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad: bool = False,
               generator=None, memory_format=None, layout=None) -> Tensor:
    """randn of input's shape and (float) dtype."""
    _check_device(device)
    x = G._t(input)
    return _finish(draw(x.shape, _like_dtype(x, dtype, "randn_like"), "normal", generator),
                   requires_grad)


def _ints(shape, low: int, high: int, dtype, generator) -> Tensor:
    """Integers uniform in [low, high): floor(u * (high - low)) + low from float64 uniforms
    (exact for ranges up to 2^53; wider ranges reach only multiples of range/2^53)."""
    span = int(high) - int(low)
    if span <= 0:
        raise InputError(f"random integers need low < high, got [{low}, {high})")
    u = draw(shape, dtypes.float64, "uniform", generator)
    top = float(span - 1)
    if top >= float(span):    # span - 1 rounds up to span (> 2^53): stay below it
        top = float(np.nextafter(float(span), 0.0))
    k = G.minimum(apply("floor", u * float(span)), top)
    return G.cast(k, dtype) + low if low else G.cast(k, dtype)


def randint(*args, size=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False, low=None, high=None, layout=None,
            pin_memory=False) -> Tensor:
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size)."""
    _check_device(device)
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if high is None:
        high = args.pop() if args else None
    if low is None:
        low = args.pop() if args else 0
    if args or high is None or size is None:
        raise InputError("randint(low=0, high, size): give high and a size tuple")
    dt = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return _finish(_ints(_size((size,)), low, high, dt, generator), requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None,
                 requires_grad: bool = False, generator=None, memory_format=None,
                 layout=None) -> Tensor:
    """randint of input's shape and dtype: randint_like(x, high) or (x, low, high)."""
    _check_device(device)
    if high is None:
        low, high = 0, low
    x = G._t(input)
    dt = x.dtype if dtype is None else dtypes.as_dtype(dtype)
    return _finish(_ints(x.shape, low, high, dt, generator), requires_grad)


def _ranks(keys: Tensor) -> Tensor:
    """The rank of each key along the last axis (0 = smallest; ties broken by position): the
    inverse of a stable argsort. O(n^2) work inside a graph; a stable sort eagerly."""
    n = keys.shape[-1]
    if tracing.current() is None:
        arr = keys._data
        order = np.argsort(arr, axis=-1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.broadcast_to(np.arange(n), arr.shape), axis=-1)
        return Tensor(ranks.astype(np.int64))
    ki, kj = G.unsqueeze(keys, -1), G.unsqueeze(keys, -2)         # (..., n, 1), (..., 1, n)
    pos = G.arange(n)
    before = (kj < ki) | ((kj == ki) & (G.reshape(pos, (1, n)) < G.reshape(pos, (n, 1))))
    return G.sum(before, dim=-1)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False,
             layout=None, pin_memory=False) -> Tensor:
    """A random permutation of 0..n-1 (the ranks of n float64 uniforms)."""
    _check_device(device)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"randperm needs a non-negative int, got {n!r}")
    dt = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    u = draw((int(n),), dtypes.float64, "uniform", generator)
    return _finish(G.cast(_ranks(u), dt), requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False, out=None, layout=None, pin_memory=False) -> Tensor:
    """Normal values: normal(mean, std) with tensors (broadcast) or floats and a size."""
    _check_device(device)
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    if tensors:
        shape = tuple(np.broadcast_shapes(*[t.shape for t in tensors]))
        dt = _float_dtype(dtype or tensors[0].dtype, "normal")
    else:
        if size is None:
            raise InputError("normal(mean, std, size): floats need a size")
        shape, dt = _size((size,)), _float_dtype(dtype, "normal")
    z = draw(shape, dt, "normal", generator)
    return _finish(z * std + mean, requires_grad)


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability `input` (or `p`), else 0, in input's dtype (torch.bernoulli)."""
    x = G._t(input)
    prob = x if p is None else p
    dt = x.dtype if x.dtype.is_float else dtypes.float32
    u = draw(x.shape, dt if dt.is_float else dtypes.float32, "uniform", generator)
    return G.cast(u < prob, x.dtype)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn from the categories of each row of `input` (non-negative weights)."""
    x = G._t(input)
    if x.ndim not in (1, 2):
        raise InputError(f"multinomial takes a 1-D or 2-D tensor, got {x.ndim}-D")
    n, k = x.shape[-1], int(num_samples)
    if not replacement and k > n:
        raise InputError(f"cannot draw {k} samples without replacement from {n} categories")
    w = G.cast(x, dtypes.float64)
    batch = x.shape[:-1]
    if replacement:
        cdf = G.cumsum(w, -1)                                     # non-decreasing
        total = G.amax(cdf, dim=-1, keepdim=True)
        t = draw(batch + (k,), dtypes.float64, "uniform", generator) * total   # (..., k)
        below = G.unsqueeze(cdf, -2) <= G.unsqueeze(t, -1)        # (..., k, n)
        return G.minimum(G.sum(below, dim=-1), n - 1)
    u = draw(x.shape, dtypes.float64, "uniform", generator)
    e = -G.log1p(-u)                                              # Exp(1), finite
    keys = G.where(w > 0, e / G.where(w > 0, w, 1.0), math.inf)   # the exponential race
    rank = _ranks(keys)                                           # (..., n)
    hit = G.cast(G.unsqueeze(rank, -1) == G.arange(k), dtypes.int64)    # (..., n, k)
    idx = G.reshape(G.arange(n), (n, 1))
    return G.sum(hit * idx, dim=-2)


# ---- in-place Tensor methods ---------------------------------------------------------------------

def _uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None, **_) -> Tensor:
    """In place: values uniform in [a, b)."""
    u = draw(self.shape, _float_dtype(self.dtype, "uniform_"), "uniform", generator)
    return self._assign(u * (b - a) + a)


def _normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """In place: normal values of mean `mean` and standard deviation `std`."""
    z = draw(self.shape, _float_dtype(self.dtype, "normal_"), "normal", generator)
    return self._assign(z * std + mean)


def _bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """In place: 1 with probability p (a float or a tensor), else 0."""
    dt = self.dtype if self.dtype.is_float else dtypes.float32
    u = draw(self.shape, dt, "uniform", generator)
    return self._assign(G.cast(u < p, self.dtype))


_RANDOM_TOP = {"f32": 2 ** 24 + 1, "f64": 2 ** 53 + 1, "i64": 2 ** 63 - 1, "i32": 2 ** 31 - 1,
               "i8": 2 ** 7, "u8": 2 ** 8, "bool": 2}


def _random_(self, from_=0, to=None, *, generator=None) -> Tensor:
    """In place: integers in [from, to) (random_(to), random_(from, to)); with no bound,
    [0, 2^mantissa] for floats and the dtype's non-negative range for integers (as torch)."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = _RANDOM_TOP[self.dtype.name]
    return self._assign(_ints(self.shape, from_, to, self.dtype, generator))


Tensor.uniform_ = _uniform_
Tensor.normal_ = _normal_
Tensor.bernoulli_ = _bernoulli_
Tensor.random_ = _random_
Tensor.bernoulli = lambda self, p=None, *, generator=None: bernoulli(self, p, generator=generator)
