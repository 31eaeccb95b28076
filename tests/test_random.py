"""Random numbers: Philox 4x32-10 known answers, one stream eagerly and compiled on every backend
and thread count, fresh values per compiled call, seeding, distributions, dropout, nn.init.

The known answers are Random123's kat_vectors lines for philox4x32 10 (counter, key -> output).
`scalar_philox` / `np_philox` below are an independent pure-Python Philox and draw (the oracle
tests/test_ops.py uses for the `philox` op); graphc's reference is vectorised NumPy and its
kernel is LLVM.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.ops.random import philox4x32

N = 100_000
# Random123 kat_vectors: philox4x32 10 <ctr0..3> <key0..1> -> <out0..3>
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


# ---- an independent Philox (pure Python ints) ---------------------------------------------------

def scalar_philox(ctr, key, rounds: int = 10):
    """Philox 4x32-R as the Random123 spec writes it: round, then bump the key, R times."""
    m = 0xFFFFFFFF
    c, k = list(ctr), list(key)
    for i in range(rounds):
        if i:
            k = [(k[0] + 0x9E3779B9) & m, (k[1] + 0xBB67AE85) & m]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & m, p1 & m, ((p0 >> 32) ^ c[3] ^ k[1]) & m, p0 & m]
    return c


def np_philox(state, shape, dtype="f32", dist="uniform"):
    """The `philox` op from its spec, element by element."""
    f32 = graphc.dtypes.as_dtype(dtype) == graphc.float32
    seed, offset = (int(v) % 2 ** 64 for v in np.asarray(state))
    key = (seed & 0xFFFFFFFF, seed >> 32)
    n = math.prod(shape)
    per = 4 if f32 else 2
    out = []
    for j in range(-(-n // per)):
        c = (offset + j) % 2 ** 64
        w = scalar_philox((c & 0xFFFFFFFF, c >> 32, 0, 0), key)
        if f32:
            us = [(x >> 8) / 2 ** 24 for x in w]
        else:
            us = [(((w[1] << 32) | w[0]) >> 11) / 2 ** 53, (((w[3] << 32) | w[2]) >> 11) / 2 ** 53]
        if dist == "normal":
            zs = []
            for ua, ub in zip(us[0::2], us[1::2]):
                r = math.sqrt(-2.0 * math.log(1.0 - ua))
                zs += [r * math.cos(2 * math.pi * ub), r * math.sin(2 * math.pi * ub)]
            us = zs
        out += us
    return np.array(out[:n], np.float32 if f32 else np.float64).reshape(shape)


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_philox_known_answers(ctr, key, want):
    assert tuple(scalar_philox(ctr, key)) == want
    got = philox4x32(np.array(ctr, np.uint32).reshape(4, 1), key)[:, 0]
    assert tuple(int(v) for v in got) == want


def test_reference_matches_the_scalar_oracle_bit_for_bit():
    from graphc.ir.ops import OPS
    ref = OPS["philox"].ref
    for state in ([0, 0], [7, 2 ** 32 - 3], [-1, -5], [2 ** 40 + 9, 123]):
        st = np.array(state, np.int64)
        for dt in (graphc.float32, graphc.float64):
            got = ref(st, shape=(3, 7), dtype=dt)
            assert got.tobytes() == np_philox(st, (3, 7), dt).tobytes()
            assert ((got >= 0) & (got < 1)).all()
            np.testing.assert_allclose(ref(st, shape=(11,), dtype=dt, dist="normal"),
                                       np_philox(st, (11,), dt, "normal"), rtol=1e-6, atol=1e-6)


def test_uniform_floats_use_the_top_bits_and_stay_below_one():
    from graphc.ir.ops.random import uniforms
    top = np.full((1, 4), 0xFFFFFFFF, np.uint32)
    assert uniforms(top, graphc.float32).max() == np.float32(1 - 2 ** -24)
    assert uniforms(top, graphc.float64).max() == 1 - 2 ** -53
    low = np.full((1, 4), 0xFF, np.uint32)   # only the discarded low bits set
    assert uniforms(low, graphc.float32).max() == 0.0


# ---- one stream: eager == interpreter == LLVM -------------------------------------------------

def _draws(x):
    return [x + graphc.rand(3, 5), graphc.rand((4,), dtype=graphc.float64),
            graphc.randn(2, 3), graphc.randn(5, dtype=graphc.float64),
            graphc.randint(-3, 9, (6,)), graphc.randperm(7),
            graphc.multinomial(graphc.tensor([[0.2, 0.0, 0.5, 0.3]]), 9, replacement=True),
            graphc.multinomial(graphc.tensor([0.2, 0.0, 0.5, 0.3, 1.0]), 3),
            graphc.normal(2.0, 3.0, (3,)), graphc.bernoulli(graphc.rand(6)),
            graphc.rand_like(x), graphc.randint_like(x, 4)]


def _arr(v):
    return np.asarray(v._data if isinstance(v, graphc.Tensor) else v)


def test_eager_interpreter_and_llvm_give_the_same_bits():
    x = np.zeros((3, 5), np.float32)
    runs = {}
    graphc.manual_seed(1234)
    runs["eager"] = [_arr(v) for v in _draws(graphc.tensor(x))]
    for backend in ("interpreter", "llvm"):
        graphc.manual_seed(1234)
        f = graphc.compile(lambda x: _draws(x), backend=backend)
        runs[backend] = [_arr(v) for v in f(x)]
    for k in ("interpreter", "llvm"):
        assert len(runs[k]) == len(runs["eager"])
        for i, (a, b) in enumerate(zip(runs[k], runs["eager"])):
            assert a.dtype == b.dtype and a.shape == b.shape, (k, i)
            assert a.tobytes() == b.tobytes(), f"{k}: draw {i} differs from eager"


THREADS_SCRIPT = r"""
import sys, numpy as np, graphc
from graphc import nn
graphc.manual_seed(5)
drop = nn.Dropout(0.3)
@graphc.compile(backend="llvm")
def f(x):
    return drop(x), graphc.randn(1000, dtype=graphc.float64), graphc.randperm(50)
x = np.ones((64, 300), np.float32)
outs = [np.asarray(v) for v in f(x)] + [np.asarray(v) for v in f(x)]
np.savez(sys.argv[1], *outs)
"""


def test_draws_do_not_depend_on_the_thread_count(tmp_path):
    outs = {}
    for threads in ("1", "2"):
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(path)], check=True, timeout=300,
                       env=dict(os.environ, GRAPHC_NUM_THREADS=threads))
        outs[threads] = dict(np.load(path))
    assert len(outs["1"]) == 6
    for k in outs["1"]:
        assert outs["1"][k].tobytes() == outs["2"][k].tobytes(), k


# ---- state: fresh values, seeding, generators ------------------------------------------------

@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_calls_draw_fresh_values_and_manual_seed_reproduces_them(backend):
    f = graphc.compile(lambda x: x + graphc.rand(8), backend=backend)
    x = np.zeros(8, np.float32)
    graphc.manual_seed(3)
    first = [np.array(f(x)) for _ in range(3)]
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    graphc.manual_seed(3)
    again = [np.array(f(x)) for _ in range(3)]
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()
    graphc.manual_seed(3)   # the compiled calls and eager draws share one stream
    assert graphc.rand(8)._data.tobytes() == first[0].tobytes()
    assert graphc.rand(8)._data.tobytes() == first[1].tobytes()


def test_the_generator_state_is_graph_state_updated_in_place():
    f = graphc.compile(lambda x: x * graphc.rand(4) + graphc.randn(4))
    x = np.ones(4, np.float32)
    graphc.manual_seed(0)
    f(x)
    (name,) = [k for k, v in f.graph.state.items() if str(v.type) == "i64[2]"]
    assert name in f.graph.updates
    assert [int(v) for v in graphc.get_rng_state()._data] == [0, 2]   # 1 block + 1 block
    arr = graphc.default_generator._state._data
    f(x)
    graphc.manual_seed(5)     # reseeding between calls writes the same array: no retrace
    f(x)
    assert graphc.default_generator._state._data is arr
    assert len(f._cache) == 1 and [int(v) for v in arr] == [5, 2]


def test_eager_manual_seed_state_and_seed():
    graphc.manual_seed(42)
    assert graphc.initial_seed() == 42
    a = graphc.randn(5)._data
    st = graphc.get_rng_state()
    b = graphc.randn(5)._data
    graphc.set_rng_state(st)
    assert graphc.randn(5)._data.tobytes() == b.tobytes()
    graphc.manual_seed(42)
    assert graphc.randn(5)._data.tobytes() == a.tobytes()
    assert not np.array_equal(a, b)
    s = graphc.seed()
    assert graphc.initial_seed() == s
    graphc.manual_seed(2 ** 64 - 1)   # any u64 seed
    graphc.rand(3)


def test_generators_are_independent_streams():
    g1, g2 = graphc.Generator().manual_seed(7), graphc.Generator().manual_seed(7)
    graphc.manual_seed(0)
    before = graphc.get_rng_state()._data.copy()
    a = graphc.rand(10, generator=g1)._data
    assert graphc.get_rng_state()._data.tobytes() == before.tobytes()   # default untouched
    assert graphc.rand(10, generator=g2)._data.tobytes() == a.tobytes()
    assert not np.array_equal(graphc.rand(10, generator=g1)._data, a)
    g3 = graphc.Generator().manual_seed(7)
    f = graphc.compile(lambda x: x + graphc.rand(10, generator=g3))
    assert np.array(f(np.zeros(10, np.float32))).tobytes() == a.tobytes()
    assert graphc.get_rng_state()._data.tobytes() == before.tobytes()


def test_signatures_and_errors():
    assert graphc.rand(2, 3).shape == graphc.rand((2, 3)).shape == graphc.rand([2, 3]).shape
    assert graphc.rand(2, 3, device="cpu", requires_grad=True).requires_grad
    assert graphc.randn(4, dtype=graphc.float64).dtype == graphc.float64
    assert graphc.randint(5, (3,)).dtype == graphc.int64
    assert graphc.randint(0, 5, size=(3,), dtype=graphc.int32).dtype == graphc.int32
    assert graphc.rand(0).shape == (0,) and graphc.randperm(0).shape == (0,)
    with pytest.raises(graphc.InputError):
        graphc.rand(2, device="cuda")
    with pytest.raises(graphc.InputError):
        graphc.rand(2, dtype=graphc.int64)
    with pytest.raises(graphc.InputError):
        graphc.randint(3, 3, (2,))
    with pytest.raises(graphc.InputError):
        graphc.multinomial(graphc.tensor([0.5, 0.5]), 3)


# ---- distributions -----------------------------------------------------------------------------

def _within(x, mean, var, what):
    x = np.asarray(x, np.float64)
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / x.size), f"{what}: mean {x.mean()}"


@pytest.mark.parametrize("dt", [graphc.float32, graphc.float64])
def test_uniform_and_normal_moments(dt):
    graphc.manual_seed(11)
    u = graphc.rand(N, dtype=dt)._data
    assert u.dtype == dt.np and u.min() >= 0 and u.max() < 1
    _within(u, 0.5, 1 / 12, "uniform")
    _within((u - 0.5) ** 2, 1 / 12, 1 / 80 - 1 / 144, "uniform variance")
    z = graphc.randn(N, dtype=dt)._data
    _within(z, 0.0, 1.0, "normal")
    _within(z ** 2, 1.0, 2.0, "normal variance")
    _within(z ** 3, 0.0, 15.0, "normal skew")
    assert abs((np.abs(z) < 1).mean() - 0.6826895) < 0.01
    y = graphc.normal(3.0, 0.5, (N,))._data
    _within(y, 3.0, 0.25, "normal(3, 0.5)")
    t = graphc.zeros(N)
    t.uniform_(-2.0, 4.0)
    assert t._data.min() >= -2 and t._data.max() < 4
    _within(t._data, 1.0, 3.0, "uniform_")
    t.normal_(1.0, 2.0)
    _within(t._data, 1.0, 4.0, "normal_")


def test_integers_bernoulli_permutations_and_multinomial():
    graphc.manual_seed(5)
    k = graphc.randint(-3, 4, (N,))._data
    assert k.min() == -3 and k.max() == 3
    counts = np.bincount(k + 3)
    assert np.abs(counts / N - 1 / 7).max() < 0.01
    b = graphc.bernoulli(graphc.full((N,), 0.3))._data
    assert set(np.unique(b)) == {0.0, 1.0}
    _within(b, 0.3, 0.21, "bernoulli")
    t = graphc.zeros(N)
    t.bernoulli_(0.8)
    _within(t._data, 0.8, 0.16, "bernoulli_")
    t.random_(10)
    assert t._data.min() == 0 and t._data.max() == 9
    t.random_(-4, 2)
    assert t._data.min() == -4 and t._data.max() == 1
    for dt, top in [(graphc.int64, 2 ** 63), (graphc.int32, 2 ** 31), (graphc.uint8, 2 ** 8),
                    (graphc.float32, 2 ** 24 + 1)]:   # random_(): the dtype's range, as torch
        t = graphc.Tensor(np.zeros(4000, dt.np))
        t.random_()
        assert t._data.min() >= 0 and top * 0.99 < float(t._data.max()) < top, dt
    k = graphc.randint(-2 ** 40, 2 ** 40, (N,))._data
    assert k.min() < -0.99 * 2 ** 40 and k.max() > 0.99 * 2 ** 40 and k.max() < 2 ** 40
    assert graphc.randint(3, 9, (50,), dtype=graphc.int32)._data.dtype == np.int32
    p = graphc.randperm(1000)._data
    assert sorted(p) == list(range(1000)) and not np.array_equal(p, np.arange(1000))
    w = np.array([1.0, 0.0, 3.0, 6.0], np.float32)
    m = graphc.multinomial(graphc.tensor(w), N, replacement=True)._data
    assert np.abs(np.bincount(m, minlength=4) / N - w / w.sum()).max() < 0.01
    # without replacement: distinct, never a zero weight, the first draw ~ w / sum(w)
    first = [graphc.multinomial(graphc.tensor(w), 3)._data for _ in range(3000)]
    assert all(len(set(r)) == 3 and 1 not in r for r in first)
    freq = np.bincount([r[0] for r in first], minlength=4) / 3000
    assert np.abs(freq - w / w.sum()).max() < 0.04


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_distributions(backend):
    graphc.manual_seed(8)
    f = graphc.compile(lambda x: (x + graphc.randn(N), graphc.randint(0, 6, (N,))),
                       backend=backend)
    z, k = f(np.zeros(N, np.float32))
    _within(z, 0.0, 1.0, "normal")
    _within(np.asarray(z) ** 2, 1.0, 2.0, "normal variance")
    assert np.abs(np.bincount(k) / N - 1 / 6).max() < 0.01


# ---- dropout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_rate_scale_and_eval_identity(p):
    graphc.manual_seed(1)
    x = graphc.tensor(np.full((200, 500), 2.0, np.float32))
    d = nn.Dropout(p)
    y = d(x)._data
    kept = y != 0
    _within(~kept, p, p * (1 - p), "dropped fraction")
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p), rtol=1e-6)
    d.eval()
    assert d(x) is x
    assert graphc.nn.functional.dropout(x, p, training=False) is x
    assert (graphc.nn.functional.dropout(x, 1.0)._data == 0).all()
    assert not np.array_equal(d.train()(x)._data, y)   # a fresh mask per call


def test_channel_dropout_zeros_whole_channels():
    graphc.manual_seed(2)
    x = graphc.tensor(np.ones((16, 32, 5, 6), np.float32))
    y = nn.Dropout2d(0.5)(x)._data
    per = y.reshape(16, 32, -1)
    assert ((per == 0).all(-1) | (per == 2.0).all(-1)).all()
    _within((per == 0).all(-1), 0.5, 0.25, "dropped channels")
    y1 = nn.Dropout1d(0.25)(graphc.tensor(np.ones((8, 64, 7), np.float32)))._data
    assert ((y1 == 0).all(-1) | (np.abs(y1 - 4 / 3) < 1e-6).all(-1)).all()
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        y3 = nn.Dropout2d(0.5)(graphc.tensor(np.ones((32, 9, 4), np.float32)))._data
    assert ((y3 == 0).all(-1) | (y3 == 2.0).all(-1)).all()
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):   # as torch:
        y2 = nn.Dropout2d(0.5)(graphc.tensor(np.ones((400, 64), np.float32)))._data
    _within(y2 == 0, 0.5, 0.25, "dropped elements of a 2-D input")             # elementwise
    assert not (y2 == 0).all(-1).any()


def test_alpha_dropout_keeps_mean_and_variance():
    graphc.manual_seed(3)
    x = graphc.randn(N)
    y = nn.AlphaDropout(0.2)(x)._data
    _within(y, 0.0, 1.0, "alpha dropout mean")
    assert abs(y.var() - 1.0) < 0.03
    assert nn.AlphaDropout(0.2).eval()(x) is x


def test_dropout_matches_torch_formula_for_alpha_dropout():
    torch = pytest.importorskip("torch")
    # the dropped value and the affine map of kept values, against torch's own output
    p = 0.3
    tx = torch.full((20000,), 0.7)
    ty = torch.nn.functional.alpha_dropout(tx, p, training=True).numpy()
    y = graphc.nn.functional.alpha_dropout(graphc.tensor(np.full(20000, 0.7, np.float32)), p,
                                           training=True)._data
    assert np.allclose(np.unique(ty), np.unique(y), rtol=1e-6)


def test_compiled_training_step_with_dropout_changes_loss_deterministically():
    def run():
        graphc.manual_seed(0)
        net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
        opt = graphc.optim.SGD(net.parameters(), lr=0.0)    # lr 0: only the mask changes loss
        crit = nn.CrossEntropyLoss()

        @graphc.compile
        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss

        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 3, 32)
        losses = [float(step(x, y)) for _ in range(4)]
        net.eval()
        evals = [float(step(x, y)) for _ in range(2)]
        return losses, evals
    losses, evals = run()
    assert len(set(losses)) == 4, losses
    assert evals[0] == evals[1]
    assert run() == (losses, evals)


# ---- nn.init ------------------------------------------------------------------------------------

def test_calculate_gain_and_fans_match_torch_exactly():
    torch = pytest.importorskip("torch")
    ti = torch.nn.init
    for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                      ("leaky_relu", 3), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert nn.init.calculate_gain(nl, param) == ti.calculate_gain(nl, param), nl
    for shape in [(5, 3), (64, 32, 3, 3), (7, 2, 5), (1, 1)]:
        w, tw = nn.Parameter(np.zeros(shape, np.float32)), torch.zeros(shape)
        assert nn.init._calculate_fan_in_and_fan_out(w) == ti._calculate_fan_in_and_fan_out(tw)
        for mode in ("fan_in", "fan_out"):
            assert nn.init._calculate_correct_fan(w, mode) == ti._calculate_correct_fan(tw, mode)
    with pytest.raises(ValueError):
        nn.init._calculate_fan_in_and_fan_out(nn.Parameter(np.zeros(3, np.float32)))
    with pytest.raises(ValueError):
        nn.init.calculate_gain("nope")


def _bound_checks(w, bound):
    a = np.abs(w)
    assert a.max() <= bound and a.max() > 0.99 * bound


def test_initialisers_follow_torch_bounds_and_stds():
    graphc.manual_seed(0)
    shape = (256, 128, 3, 3)                 # fan_in 1152, fan_out 2304
    fan_in, fan_out = 128 * 9, 256 * 9
    w = nn.Parameter(np.zeros(shape, np.float32))
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    _bound_checks(w.numpy(), math.sqrt(3) * math.sqrt(2 / (1 + 5)) / math.sqrt(fan_in))
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    _bound_checks(w.numpy(), math.sqrt(6 / fan_out))
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() / math.sqrt(2 / fan_in) - 1) < 0.01
    assert abs(w.numpy().mean()) < 0.01 * math.sqrt(2 / fan_in)
    nn.init.xavier_uniform_(w, gain=2.0)
    _bound_checks(w.numpy(), 2.0 * math.sqrt(6 / (fan_in + fan_out)))
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.01
    nn.init.normal_(w, 1.0, 0.5)
    assert abs(w.numpy().std() / 0.5 - 1) < 0.01 and abs(w.numpy().mean() - 1) < 0.01
    nn.init.uniform_(w, -0.25, 0.75)
    assert w.numpy().min() >= -0.25 and w.numpy().max() < 0.75
    nn.init.trunc_normal_(w, mean=0.1, std=1.0, a=-0.5, b=0.6)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 0.6 and w.numpy().min() < -0.49
    nn.init.constant_(w, 0.3)
    assert (w.numpy() == np.float32(0.3)).all()
    nn.init.zeros_(w)
    assert (w.numpy() == 0).all()
    nn.init.ones_(w)
    assert (w.numpy() == 1).all()
    for shape in [(20, 50), (50, 20), (8, 4, 3)]:
        q = nn.Parameter(np.zeros(shape, np.float32))
        nn.init.orthogonal_(q, gain=1.5)
        m = q.data.reshape(shape[0], -1)
        gram = m @ m.T if shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(gram, 2.25 * np.eye(gram.shape[0]), atol=1e-4)


def test_init_is_reproducible_under_manual_seed_and_works_in_a_compiled_step():
    graphc.manual_seed(9)
    a = nn.init.kaiming_normal_(nn.Parameter(np.zeros((30, 40), np.float32))).numpy().copy()
    graphc.manual_seed(9)
    b = nn.init.kaiming_normal_(nn.Parameter(np.zeros((30, 40), np.float32))).numpy()
    assert a.tobytes() == b.tobytes()
    lin = nn.Linear(40, 30)

    @graphc.compile
    def reinit(x):
        nn.init.xavier_uniform_(lin.weight)
        return x + 1

    reinit(np.zeros(1, np.float32))
    w1 = lin.weight.numpy().copy()
    reinit(np.zeros(1, np.float32))
    bound = math.sqrt(6 / 70)
    assert np.abs(lin.weight.data).max() <= bound and not np.array_equal(w1, lin.weight.data)
