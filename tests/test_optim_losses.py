"""Optimizers (Adadelta, Adagrad, Adamax, LBFGS), lr schedulers, gradient clipping and losses vs
PyTorch, eagerly and inside graphc.compile.

Each comparison runs graphc and torch side by side from the same initial parameters and data and
asserts values within float32 rounding (rtol 1e-5); each test also checks that something actually
moved/changed, so a no-op implementation fails.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.nn import functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's kl_div note


def pair(seed=0):
    graphc.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    tnet.load_state_dict({k: torch.tensor(np.array(v)) for k, v in net.state_dict().items()})
    return net, tnet


def batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((6, 4)).astype(np.float32),
             rng.standard_normal((6, 3)).astype(np.float32)) for _ in range(n)]


def assert_params(net, tnet, atol=1e-6):
    tsd = tnet.state_dict()
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(np.array(v), tsd[k].numpy(), rtol=1e-5, atol=atol, err_msg=k)


# ---- optimizers ---------------------------------------------------------------------------------

OPTS = {
    "adadelta": ("Adadelta", {}),
    "adadelta-wd": ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    "adagrad": ("Adagrad", {}),
    "adagrad-decay": ("Adagrad", dict(lr=0.05, lr_decay=0.1, initial_accumulator_value=0.1,
                                      weight_decay=0.01)),
    "adamax": ("Adamax", {}),
    "adamax-wd": ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    "adamax-maximize": ("Adamax", dict(maximize=True)),
    "nadam": ("NAdam", dict(weight_decay=0.01)),
    "nadam-decoupled": ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                                      momentum_decay=0.01)),
    "radam": ("RAdam", dict(lr=0.01, weight_decay=0.01)),
    "radam-rectified": ("RAdam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1,
                                      decoupled_weight_decay=True)),   # rho_t > 5 from step 6
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(OPTS))
def test_optimizer_matches_torch(name, compiled):
    cls, kw = OPTS[name]
    net, tnet = pair()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    opt, topt = getattr(optim, cls)(net.parameters(), **kw), getattr(torch.optim, cls)(
        tnet.parameters(), **kw)

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = graphc.compile(step)
    for x, y in batches(8 if cls == "RAdam" else 5):
        loss = step(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        np.testing.assert_allclose(float(loss), tl.item(), rtol=1e-5)
        assert_params(net, tnet)
    for k, v in net.state_dict().items():
        assert not np.array_equal(np.array(v), before[k]), k
    assert set(opt.state[next(iter(net.parameters()))]) == set(
        topt.state[next(iter(tnet.parameters()))])
    if compiled:
        assert len(step._cache) <= 2


@pytest.mark.parametrize("cls,kw,msg", [
    ("Adadelta", dict(rho=1.5), "rho"), ("Adadelta", dict(lr=-1), "lr"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adamax", dict(betas=(1.0, 0.9)), "betas"), ("Adamax", dict(eps=-1), "eps"),
])
def test_optimizer_argument_checks(cls, kw, msg):
    net, _ = pair()
    with pytest.raises(graphc.GraphcError, match=msg):
        getattr(optim, cls)(net.parameters(), **kw)


def test_optimizer_defaults_match_torch():
    net, tnet = pair()
    for cls in ("Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam"):
        ours = getattr(optim, cls)(net.parameters()).defaults
        theirs = getattr(torch.optim, cls)(tnet.parameters()).defaults
        for k, v in ours.items():
            assert theirs[k] == v, (cls, k)


# ---- lr schedulers ------------------------------------------------------------------------------

def _sched(lib, opt, name):
    L = lib.optim.lr_scheduler
    return {
        "step": lambda: L.StepLR(opt, step_size=4, gamma=0.5),
        "multistep": lambda: L.MultiStepLR(opt, milestones=[3, 7, 7, 20], gamma=0.3),
        "exponential": lambda: L.ExponentialLR(opt, gamma=0.9),
        "cosine": lambda: L.CosineAnnealingLR(opt, T_max=10, eta_min=0.001),
        "lambda": lambda: L.LambdaLR(opt, lambda e: 1.0 / (1 + e)),
        "multiplicative": lambda: L.MultiplicativeLR(opt, lambda e: 0.95),
        "linear": lambda: L.LinearLR(opt, start_factor=0.25, total_iters=8),
        "constant": lambda: L.ConstantLR(opt, factor=0.5, total_iters=6),
        "onecycle": lambda: L.OneCycleLR(opt, max_lr=0.5, total_steps=40),
        "onecycle-linear-3phase": lambda: L.OneCycleLR(
            opt, max_lr=[0.5, 0.2], total_steps=35, anneal_strategy="linear", three_phase=True,
            cycle_momentum=False),
        "warm-restarts": lambda: L.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=2, eta_min=0.01),
        "polynomial": lambda: L.PolynomialLR(opt, total_iters=12, power=2.0),
        "sequential": lambda: L.SequentialLR(opt, [L.LinearLR(opt, 0.1, total_iters=5),
                                                   L.ExponentialLR(opt, 0.8)], milestones=[5]),
        "chained": lambda: L.ChainedScheduler([L.ConstantLR(opt, 0.5, total_iters=4),
                                               L.ExponentialLR(opt, 0.9)]),
        "cyclic": lambda: L.CyclicLR(opt, 0.01, 0.1, step_size_up=4, mode="triangular2"),
    }[name]()


def _two_group_opts():
    net, tnet = pair()
    ps, tps = list(net.parameters()), list(tnet.parameters())
    opt = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tps[:2]}, {"params": tps[2:], "lr": 0.05}], lr=0.1,
                           momentum=0.9)
    return opt, topt


SCHEDULERS = ["step", "multistep", "exponential", "cosine", "lambda", "multiplicative", "linear",
              "constant", "onecycle", "onecycle-linear-3phase", "warm-restarts", "polynomial",
              "sequential", "chained", "cyclic"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_lr_sequence_matches_torch(name):
    import warnings
    opt, topt = _two_group_opts()
    sched, tsched = _sched(graphc, opt, name), _sched(torch, topt, name)
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(30):
            ours = [g["lr"] for g in opt.param_groups]
            theirs = [g["lr"] for g in topt.param_groups]
            assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15), (i, ours, theirs)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
            assert [g.get("momentum") for g in opt.param_groups] == pytest.approx(
                [g.get("momentum") for g in topt.param_groups])
            seen.add(round(ours[0], 12))
            if name.startswith("onecycle") and i >= 34:
                break
            sched.step()
            tsched.step()
    assert len(seen) >= 2   # the schedule changed the lr


def test_scheduler_state_dict_round_trip_and_last_epoch():
    opt, topt = _two_group_opts()
    s = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt2, _ = _two_group_opts()
    s2 = optim.lr_scheduler.StepLR(opt2, step_size=3, gamma=0.5)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 4 and s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(_two_group_opts()[0], step_size=3, last_epoch=5)


def test_reduce_lr_on_plateau_matches_torch():
    opt, topt = _two_group_opts()
    kw = dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=[0.0, 0.02])
    s = optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    metrics = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs = []
    for m in metrics:
        s.step(graphc.tensor(np.float32(m)))
        ts.step(m)
        lrs.append([g["lr"] for g in opt.param_groups])
        assert lrs[-1] == [g["lr"] for g in topt.param_groups]
    assert lrs[-1] != lrs[0]


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adagrad"])
def test_compiled_step_with_scheduler_does_not_retrace(opt_name):
    net, tnet = pair(3)
    make = {"sgd": lambda m, ps: m.optim.SGD(ps, lr=0.1, momentum=0.9),
            "adam": lambda m, ps: m.optim.Adam(ps, lr=0.01),
            "adagrad": lambda m, ps: m.optim.Adagrad(ps, lr=0.1, lr_decay=0.01)}[opt_name]
    opt, topt = make(graphc, net.parameters()), make(torch, tnet.parameters())
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=12, cycle_momentum=False)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.2, total_steps=12,
                                                 cycle_momentum=False)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    traces, lrs = [], []
    for x, y in batches(12, seed=4):
        loss = step(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        sched.step()
        tsched.step()
        traces.append(len(step._cache))
        lrs.append(opt.param_groups[0]["lr"])
        np.testing.assert_allclose(float(loss), tl.item(), rtol=2e-5)
        assert_params(net, tnet, atol=2e-6)
    assert len(set(lrs)) == len(lrs)                       # lr changed every step
    assert traces[-1] <= 2 and traces[1:] == [traces[1]] * (len(traces) - 1), traces


# ---- gradient clipping --------------------------------------------------------------------------

@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
def test_clip_grad_norm_matches_torch(norm_type, compiled):
    net, tnet = pair(5)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)

    def f(x):
        net(x).sum().backward()
        return nn.utils.clip_grad_norm_(net.parameters(), 0.5, norm_type)

    if compiled:
        f = graphc.compile(f)
    total = f(graphc.tensor(x))
    tnet(torch.tensor(x)).sum().backward()
    ttotal = torch.nn.utils.clip_grad_norm_(tnet.parameters(), 0.5, norm_type)
    assert ttotal.item() > 0.5     # clipping happened
    np.testing.assert_allclose(float(total), ttotal.item(), rtol=1e-5)
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_no_clip_below_max_and_nonfinite_error():
    net, tnet = pair(5)
    x = np.ones((2, 4), np.float32)
    net(graphc.tensor(x)).sum().backward()
    g0 = [p.grad.numpy().copy() for p in net.parameters()]
    total = nn.utils.clip_grad_norm_(net.parameters(), 1e6)
    for g, p in zip(g0, net.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), g * min(1.0, 1e6 / (float(total) + 1e-6)),
                                   rtol=1e-6)
    p = next(iter(net.parameters()))
    p.grad = graphc.tensor(np.full(p.shape, np.inf, np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(net.parameters(), 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_clip_grad_value_matches_torch(compiled):
    net, tnet = pair(6)
    x = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)

    def f(x):
        net(x).sum().backward()
        nn.utils.clip_grad_value_(net.parameters(), 0.3)

    if compiled:
        f = graphc.compile(f)
    f(graphc.tensor(x))
    tnet(torch.tensor(x)).sum().backward()
    assert max(tp.grad.abs().max().item() for tp in tnet.parameters()) > 0.3
    torch.nn.utils.clip_grad_value_(tnet.parameters(), 0.3)
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_parameters_to_vector_round_trip():
    net, tnet = pair(7)
    v = nn.utils.parameters_to_vector(net.parameters())
    tv = torch.nn.utils.parameters_to_vector(tnet.parameters())
    np.testing.assert_array_equal(v.numpy(), tv.detach().numpy())
    nn.utils.vector_to_parameters(v * 2.0, net.parameters())
    torch.nn.utils.vector_to_parameters(tv * 2.0, tnet.parameters())
    assert_params(net, tnet, atol=0)


# ---- losses -------------------------------------------------------------------------------------

_rng = np.random.default_rng(11)
LOGITS = _rng.standard_normal((7, 5)).astype(np.float32)
LABELS = np.array([0, 3, -100, 4, 1, 3, 2], np.int64)
LABELS_ALT = np.array([0, 3, 2, 4, 1, 1, 2], np.int64)    # with ignore_index=1
CW = np.array([0.5, 2.0, 1.0, 0.1, 3.0], np.float32)
PROBS = _rng.uniform(0.02, 0.98, (6, 4)).astype(np.float32)
BIN = (_rng.uniform(size=(6, 4)) > 0.5).astype(np.float32)
SOFT = _rng.uniform(size=(6, 4)).astype(np.float32)
EW = _rng.uniform(0.1, 2.0, (6, 4)).astype(np.float32)
PW = np.array([0.5, 1.0, 2.0, 3.0], np.float32)
REG_X = (3 * _rng.standard_normal((6, 4))).astype(np.float32)
REG_Y = _rng.standard_normal((6, 4)).astype(np.float32)
SIGN = np.where(_rng.uniform(size=(6, 4)) > 0.5, 1.0, -1.0).astype(np.float32)
DIST = np.log(_rng.dirichlet(np.ones(4), 6)).astype(np.float32)
TDIST = _rng.dirichlet(np.ones(4), 6).astype(np.float32)
TDIST[0, 1] = 0.0                      # 0 log 0 = 0


def _c(lib, a):
    return graphc.tensor(a) if lib is F else torch.tensor(a)


# name: (function of (lib, x) with lib = graphc's F or torch's F, input array, finite-difference
# safe); reductions are parametrized where the function takes one.
LOSSES = {
    "ce-ignore": lambda L, x, r: L.cross_entropy(x, _c(L, LABELS), reduction=r),
    "ce-weight": lambda L, x, r: L.cross_entropy(x, _c(L, LABELS), weight=_c(L, CW), reduction=r),
    "ce-weight-ignore1": lambda L, x, r: L.cross_entropy(x, _c(L, LABELS_ALT), weight=_c(L, CW),
                                                         ignore_index=1, reduction=r),
    "ce-weight-smooth": lambda L, x, r: L.cross_entropy(x, _c(L, LABELS), weight=_c(L, CW),
                                                        reduction=r, label_smoothing=0.2),
    "ce-ignore-smooth": lambda L, x, r: L.cross_entropy(x, _c(L, LABELS), reduction=r,
                                                        label_smoothing=0.1),
    "ce-probs-weight": lambda L, x, r: L.cross_entropy(x, _c(L, LOGITS.T[:5].T * 0 + np.abs(
        LOGITS) / np.abs(LOGITS).sum(1, keepdims=True)), weight=_c(L, CW), reduction=r),
    "nll-weight": lambda L, x, r: L.nll_loss(L.log_softmax(x, 1), _c(L, LABELS),
                                             weight=_c(L, CW), reduction=r),
    "nll-ignore": lambda L, x, r: L.nll_loss(L.log_softmax(x, 1), _c(L, LABELS), reduction=r),
    "bce": lambda L, x, r: L.binary_cross_entropy(L.sigmoid(x), _c(L, SOFT), reduction=r),
    "bce-weight": lambda L, x, r: L.binary_cross_entropy(L.sigmoid(x), _c(L, BIN),
                                                         weight=_c(L, EW), reduction=r),
    "bce-logits-weight-pos": lambda L, x, r: L.binary_cross_entropy_with_logits(
        x, _c(L, BIN), weight=_c(L, EW), pos_weight=_c(L, PW), reduction=r),
    "smooth-l1": lambda L, x, r: L.smooth_l1_loss(x, _c(L, REG_Y), reduction=r, beta=0.7),
    "smooth-l1-beta0": lambda L, x, r: L.smooth_l1_loss(x, _c(L, REG_Y), reduction=r, beta=0.0),
    "huber": lambda L, x, r: L.huber_loss(x, _c(L, REG_Y), reduction=r, delta=1.5),
    "kl": lambda L, x, r: L.kl_div(L.log_softmax(x, 1), _c(L, TDIST), reduction=r),
    "kl-log-target": lambda L, x, r: L.kl_div(L.log_softmax(x, 1), _c(L, DIST), reduction=r,
                                              log_target=True),
    "soft-margin": lambda L, x, r: L.soft_margin_loss(x, _c(L, SIGN), reduction=r),
}
INPUTS = {k: (LOGITS if k.startswith(("ce", "nll")) else REG_X) for k in LOSSES}


def _check_loss(name, reduction, compiled):
    fn = LOSSES[name]
    x0 = INPUTS[name]

    def ours(x):
        out = fn(F, x, reduction)
        out.sum().backward() if reduction == "none" else out.backward()
        return out

    if compiled:
        ours = graphc.compile(ours)
    x = graphc.tensor(x0, requires_grad=True)
    if compiled:
        x = nn.Parameter(graphc.tensor(x0))
    val = ours(x)
    tx = torch.tensor(x0, requires_grad=True)
    tval = fn(tF, tx, reduction)
    (tval.sum() if reduction == "none" else tval).backward()
    np.testing.assert_allclose(val.numpy(), tval.detach().numpy(), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=2e-5, atol=2e-6)
    assert np.abs(tx.grad.numpy()).max() > 0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_torch_eager(name, reduction):
    _check_loss(name, reduction, compiled=False)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", [k for k in LOSSES if k not in ("ce-ignore", "nll-ignore",
                                                                  "ce-ignore-smooth")])
def test_loss_matches_torch_compiled(name, reduction):
    _check_loss(name, reduction, compiled=True)


def test_kl_div_batchmean():
    inp = np.ascontiguousarray(DIST[::-1])
    for log_target, t in ((False, TDIST), (True, DIST)):
        ours = F.kl_div(graphc.tensor(inp), graphc.tensor(t), reduction="batchmean",
                        log_target=log_target)
        theirs = tF.kl_div(torch.tensor(inp), torch.tensor(t), reduction="batchmean",
                           log_target=log_target)
        np.testing.assert_allclose(float(ours), theirs.item(), rtol=1e-5)
        assert float(ours) != float(F.kl_div(graphc.tensor(inp), graphc.tensor(t),
                                             log_target=log_target))


def test_bce_clamps_log_at_minus_100():
    x = np.array([0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 1.0], np.float32)
    ours = F.binary_cross_entropy(graphc.tensor(x), graphc.tensor(y), reduction="none")
    np.testing.assert_allclose(ours.numpy(), tF.binary_cross_entropy(
        torch.tensor(x), torch.tensor(y), reduction="none").numpy(), rtol=1e-6)


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cosine_similarity_and_pairwise_distance(dim):
    a = _rng.standard_normal((5, 6)).astype(np.float32)
    b = _rng.standard_normal((5, 6)).astype(np.float32)
    b[2] = 0.0                                       # a zero vector: eps clamps its norm
    np.testing.assert_allclose(nn.CosineSimilarity(dim)(graphc.tensor(a), graphc.tensor(b)).numpy(),
                               torch.nn.CosineSimilarity(dim)(torch.tensor(a), torch.tensor(b)).numpy(),
                               rtol=1e-5, atol=1e-6)
    for p in (2.0, 1.0, 3.0):
        np.testing.assert_allclose(
            nn.PairwiseDistance(p)(graphc.tensor(a), graphc.tensor(b)).numpy(),
            torch.nn.PairwiseDistance(p)(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-5)


def test_loss_modules_match_torch():
    x, y = REG_X, REG_Y
    pairs = [
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), x, y),
        (nn.HuberLoss(reduction="sum", delta=2.0), torch.nn.HuberLoss(reduction="sum", delta=2.0),
         x, y),
        (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"),
         DIST, TDIST),
        (nn.BCELoss(weight=graphc.tensor(EW)), torch.nn.BCELoss(weight=torch.tensor(EW)),
         PROBS, BIN),
        (nn.BCEWithLogitsLoss(pos_weight=graphc.tensor(PW)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(PW)), x, BIN),
        (nn.SoftMarginLoss(), torch.nn.SoftMarginLoss(), x, SIGN),
        (nn.CrossEntropyLoss(weight=graphc.tensor(CW), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(CW), label_smoothing=0.1), LOGITS, LABELS),
        (nn.NLLLoss(ignore_index=3, reduction="sum"),
         torch.nn.NLLLoss(ignore_index=3, reduction="sum"), LOGITS, LABELS_ALT),
    ]
    for ours, theirs, a, b in pairs:
        np.testing.assert_allclose(float(ours(graphc.tensor(a), graphc.tensor(b))),
                                   theirs(torch.tensor(a), torch.tensor(b)).item(), rtol=1e-5,
                                   err_msg=type(ours).__name__)


def test_old_positional_reduction_still_works():
    x, y = graphc.tensor(LOGITS), graphc.tensor(LABELS_ALT)
    assert float(F.cross_entropy(x, y, "sum")) == pytest.approx(
        tF.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS_ALT), reduction="sum").item(),
        rel=1e-5)
    assert nn.CrossEntropyLoss("sum", 0.1).label_smoothing == 0.1
    assert nn.CrossEntropyLoss("sum").reduction == "sum"


# ---- LBFGS (eager only) -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch_eagerly(line_search_fn, dtype):
    """Same closure-call counts and losses; parameters agree. In float32 the port is compared over
    2 steps: L-BFGS amplifies float32 dot-product rounding differences, and in the third the
    strong-Wolfe cubic interpolation's d1^2 - g1*g2 cancels to within rounding, so its sign (and
    the next trial step) depends on the order of a 67-term dot product (torch's and NumPy's
    differ). float64 follows torch's float64 branch for branch over 4 steps."""
    wide = dtype == "float64"
    net, tnet = pair()
    if wide:
        net, tnet = net.double(), tnet.double()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    kw = dict(lr=0.5, max_iter=5, history_size=3, line_search_fn=line_search_fn)
    opt, topt = optim.LBFGS(net.parameters(), **kw), torch.optim.LBFGS(tnet.parameters(), **kw)
    calls = [0, 0]
    for x, y in batches(4 if wide else 2):
        if wide:
            x, y = x.astype(np.float64), y.astype(np.float64)
        gx, gy = graphc.tensor(x), graphc.tensor(y)

        def closure():
            calls[0] += 1
            opt.zero_grad()
            loss = F.mse_loss(net(gx), gy)
            loss.backward()
            return loss

        def tclosure():
            calls[1] += 1
            topt.zero_grad()
            loss = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            return loss

        np.testing.assert_allclose(float(opt.step(closure)), topt.step(tclosure).item(),
                                   rtol=1e-9 if wide else 1e-4)
        assert calls[0] == calls[1] > 1
    assert_params(net, tnet, atol=1e-9 if wide else 3e-4)
    for k, v in net.state_dict().items():
        assert np.abs(np.array(v) - before[k]).max() > 1e-2, k


def test_lbfgs_inside_compile_raises_a_clear_error():
    net, _ = pair()
    opt = optim.LBFGS(net.parameters())
    x, y = (graphc.tensor(a) for a in batches(1)[0])

    @graphc.compile
    def step(x, y):
        def closure():
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            return loss
        return opt.step(closure)

    with pytest.raises(graphc.GraphcError, match="LBFGS.*can't trace"):
        step(x, y)


def test_compiled_default_ignore_index_without_weight_is_masked_as_eagerly():
    """Compiled, with no weight= and the default ignore_index, a -100 label is ignored as in
    torch (take_class gives 0 there, the driver's label check allows exactly -100)."""
    x = graphc.tensor(LOGITS)
    y = graphc.tensor(LABELS)
    eager = float(F.cross_entropy(x, y))
    assert eager == pytest.approx(tF.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS)).item(),
                                  rel=1e-5)
    f = graphc.compile(lambda x, y: F.cross_entropy(x, y))
    assert float(f(x, y)) == pytest.approx(eager, rel=1e-6)
    g = graphc.compile(lambda x, y, w: F.cross_entropy(x, y, weight=w))
    np.testing.assert_allclose(float(g(x, y, graphc.tensor(np.ones(5, np.float32)))), eager,
                               rtol=1e-6)
