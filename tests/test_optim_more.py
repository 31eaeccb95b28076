"""Every optimizer and option combination vs PyTorch over 20 steps (eagerly and compiled), torch's
flags, argument errors, state_dict layout, per-group options, hyperparameters as runtime inputs
(momentum-cycling schedulers never retrace) and every lr scheduler over 100 epochs vs PyTorch.

graphc and torch run side by side from the same parameters and data; values must agree within
float32 rounding, and each comparison also checks that the parameters moved.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.nn import functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional


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


def assert_params(net, tnet, rtol=1e-5, atol=1e-6, msg=""):
    tsd = tnet.state_dict()
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(np.array(v), tsd[k].numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{msg} {k}")


def groups(params, per_group):
    """The parameters as one list, or (per_group given) two groups, the second overriding."""
    ps = list(params)
    if per_group is None:
        return ps
    return [{"params": ps[:2]}, {"params": ps[2:], **per_group}]


# name: (class, constructor kwargs, the second group's overrides or None)
CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1), None),
    "sgd-momentum-dampening": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2), None),
    "sgd-nesterov-wd": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05),
                        None),
    "sgd-maximize": ("SGD", dict(lr=0.02, momentum=0.5, weight_decay=0.01, maximize=True), None),
    "sgd-groups": ("SGD", dict(lr=0.05, momentum=0.9),
                   dict(lr=0.01, momentum=0.5, weight_decay=0.1, nesterov=True)),
    "adam": ("Adam", dict(lr=0.01), None),
    "adam-amsgrad-wd": ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05), None),
    "adam-decoupled": ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
                       None),
    "adam-maximize-amsgrad": ("Adam", dict(lr=0.005, maximize=True, amsgrad=True), None),
    "adam-low-beta1": ("Adam", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-6), None),  # lerp w > .5
    "adam-groups": ("Adam", dict(lr=0.01),
                    dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True, eps=1e-4)),
    "adamw": ("AdamW", dict(lr=0.01), None),
    "adamw-amsgrad-maximize": ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True,
                                             weight_decay=0.05), None),
    "adamw-groups": ("AdamW", dict(lr=0.01), dict(weight_decay=0.0, betas=(0.85, 0.9))),
    "rmsprop": ("RMSprop", dict(lr=0.01), None),
    "rmsprop-momentum-centered": ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True,
                                                  weight_decay=0.01, alpha=0.9), None),
    "rmsprop-centered-maximize": ("RMSprop", dict(lr=0.005, centered=True, maximize=True), None),
    "rmsprop-groups": ("RMSprop", dict(lr=0.01), dict(momentum=0.5, centered=True, alpha=0.8)),
    "adadelta-maximize": ("Adadelta", dict(lr=0.5, maximize=True, weight_decay=0.01), None),
    "adadelta-groups": ("Adadelta", dict(), dict(lr=0.3, rho=0.5, eps=1e-4)),
    "adagrad-maximize": ("Adagrad", dict(lr=0.05, maximize=True, lr_decay=0.01), None),
    "adagrad-groups": ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.1),
                       dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, eps=1e-6,
                            initial_accumulator_value=5.0)),   # torch ignores the group's value
    "adamax-maximize": ("Adamax", dict(lr=0.01, maximize=True, weight_decay=0.01), None),
    "adamax-groups": ("Adamax", dict(lr=0.01), dict(betas=(0.5, 0.9), eps=1e-3)),
    "nadam-maximize": ("NAdam", dict(lr=0.01, maximize=True, weight_decay=0.01), None),
    "nadam-groups": ("NAdam", dict(lr=0.01), dict(momentum_decay=0.01, weight_decay=0.1,
                                                  decoupled_weight_decay=True)),
    "radam-maximize": ("RAdam", dict(lr=0.01, maximize=True, betas=(0.8, 0.99)), None),
    "radam-groups": ("RAdam", dict(lr=0.01), dict(weight_decay=0.1, decoupled_weight_decay=True,
                                                  betas=(0.7, 0.95))),
    "asgd": ("ASGD", dict(lr=0.05), None),
    "asgd-averaging": ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.6, t0=5, weight_decay=0.01),
                       None),                                  # mu < 1 from step 6
    "asgd-maximize": ("ASGD", dict(lr=0.02, t0=3, maximize=True), None),
    "asgd-groups": ("ASGD", dict(lr=0.05, t0=4), dict(lr=0.02, lambd=0.1, alpha=0.9, t0=8)),
    "rprop": ("Rprop", dict(), None),
    "rprop-options": ("Rprop", dict(lr=0.003, etas=(0.3, 1.5), step_sizes=(1e-4, 0.02)), None),
    "rprop-maximize": ("Rprop", dict(lr=0.001, maximize=True), None),
    "rprop-groups": ("Rprop", dict(lr=0.002), dict(lr=0.01, etas=(0.4, 1.1))),
    "sparse-adam": ("SparseAdam", dict(lr=0.01), None),
    "sparse-adam-maximize": ("SparseAdam", dict(lr=0.01, maximize=True, betas=(0.8, 0.99),
                                                eps=1e-6), None),
    "sparse-adam-groups": ("SparseAdam", dict(lr=0.01), dict(lr=0.03, betas=(0.5, 0.9))),
}


def run_pair(cls, kw, per_group, compiled, steps=20, seed=0, tkw=None):
    """Train graphc and torch side by side; returns (net, tnet, opt, topt, traces)."""
    net, tnet = pair(seed)
    opt = getattr(optim, cls)(groups(net.parameters(), per_group), **kw)
    topt = getattr(torch.optim, cls)(groups(tnet.parameters(), per_group), **(tkw or kw))

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = graphc.compile(step)
    traces = []
    for i, (x, y) in enumerate(batches(steps)):
        loss = step(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        if cls == "SparseAdam":          # torch's SparseAdam takes sparse gradients only
            for tp in tnet.parameters():
                tp.grad = tp.grad.to_sparse(1)
        topt.step()
        np.testing.assert_allclose(float(loss), tl.item(), rtol=1e-5, err_msg=f"step {i}")
        assert_params(net, tnet, msg=f"step {i}")
        if compiled:
            traces.append(len(step._cache))
    return net, tnet, opt, topt, traces


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_optimizer_matches_torch_over_20_steps(name, compiled):
    cls, kw, per_group = CONFIGS[name]
    net0, _ = pair()
    before = {k: np.array(v) for k, v in net0.state_dict().items()}
    net, tnet, opt, topt, traces = run_pair(cls, kw, per_group, compiled)
    for k, v in net.state_dict().items():
        assert np.abs(np.array(v) - before[k]).max() > 1e-4, k      # it trained
    p, tp = next(iter(net.parameters())), next(iter(tnet.parameters()))
    assert list(opt.state[p]) == list(topt.state[tp])             # torch's state keys, in order
    if compiled:
        assert traces[-1] <= 2, traces       # first step, then every later step: one graph


# ---- torch's flags, defaults and argument checks -------------------------------------------------

ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam",
       "ASGD", "Rprop", "SparseAdam"]


@pytest.mark.parametrize("cls", ALL)
def test_defaults_and_param_group_keys_match_torch(cls):
    net, tnet = pair()
    ours, theirs = getattr(optim, cls)(net.parameters()), getattr(torch.optim, cls)(
        tnet.parameters())
    assert ours.defaults == theirs.defaults
    assert list(ours.defaults) == list(theirs.defaults)
    assert list(ours.param_groups[0]) == list(theirs.param_groups[0])


FLAGS = {   # the flags torch has on each optimizer (all: maximize)
    "SGD": ("foreach", "differentiable", "fused"), "Adam": ("foreach", "capturable",
                                                            "differentiable", "fused"),
    "AdamW": ("foreach", "capturable", "differentiable", "fused"),
    "RMSprop": ("foreach", "capturable", "differentiable"),
    "Adadelta": ("foreach", "capturable", "differentiable"),
    "Adagrad": ("foreach", "differentiable", "fused"),
    "Adamax": ("foreach", "capturable", "differentiable"),
    "NAdam": ("foreach", "capturable", "differentiable"),
    "RAdam": ("foreach", "capturable", "differentiable"),
    "ASGD": ("foreach", "capturable", "differentiable"), "Rprop": ("foreach", "capturable",
                                                                    "differentiable"),
    "SparseAdam": (),
}


@pytest.mark.parametrize("cls", ALL)
def test_kernel_flags_are_accepted_and_change_no_number(cls):
    """foreach/fused/capturable/differentiable pick torch's kernels, not its formula: graphc's
    numbers are the same bits with any of them; an unknown flag is a TypeError as in torch."""
    lr = dict(lr=0.01)
    ref, _ = pair(2)
    o = getattr(optim, cls)(ref.parameters(), **lr)
    for flag in FLAGS[cls]:
        net, _ = pair(2)
        opt = getattr(optim, cls)(net.parameters(), **lr, **{flag: True})
        assert opt.param_groups[0][flag] is True
        for x, y in batches(3):
            for model, optimizer in ((net, opt), (ref, o)):
                optimizer.zero_grad()
                F.mse_loss(model(graphc.tensor(x)), graphc.tensor(y)).backward()
                optimizer.step()
            ref_sd = ref.state_dict()
            for k, v in net.state_dict().items():
                np.testing.assert_array_equal(np.array(v), np.array(ref_sd[k]), err_msg=flag)
        ref, _ = pair(2)
        o = getattr(optim, cls)(ref.parameters(), **lr)
    for flag in {"foreach", "fused", "capturable", "differentiable"} - set(FLAGS[cls]):
        with pytest.raises(TypeError):
            getattr(optim, cls)(ref.parameters(), **{flag: True})
        with pytest.raises(TypeError):
            getattr(torch.optim, cls)([torch.nn.Parameter(torch.ones(2))], **{flag: True})


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_refuses_what_torch_refuses(cls):
    net, tnet = pair()
    for kw, msg in ((dict(fused=True, differentiable=True), "differentiable"),
                    (dict(fused=True, foreach=True), "foreach")):
        with pytest.raises(RuntimeError, match=msg):
            getattr(torch.optim, cls)(tnet.parameters(), lr=0.1, **kw)
        with pytest.raises(graphc.GraphcError, match=msg) as e:
            getattr(optim, cls)(net.parameters(), lr=0.1, **kw)
        assert isinstance(e.value, RuntimeError)


BAD = [
    ("SGD", dict(lr=-0.1), "learning rate"), ("SGD", dict(momentum=-1), "momentum"),
    ("SGD", dict(weight_decay=-1), "weight_decay"), ("SGD", dict(nesterov=True), "Nesterov"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    ("Adam", dict(eps=-1), "epsilon"), ("Adam", dict(betas=(1.0, 0.9)), "index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), "index 1"), ("Adam", dict(weight_decay=-1), "weight_decay"),
    ("Adam", dict(betas=(0, 0.9)), "both floats"), ("AdamW", dict(lr=-1), "learning rate"),
    ("RMSprop", dict(alpha=-0.1), "alpha"), ("RMSprop", dict(momentum=-0.1), "momentum"),
    ("Adadelta", dict(rho=1.5), "rho"), ("Adagrad", dict(lr_decay=-0.1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adamax", dict(betas=(0.9, 1.0)), "index 1"), ("NAdam", dict(momentum_decay=-1),
                                                    "momentum_decay"),
    ("RAdam", dict(eps=-1e-8), "epsilon"), ("ASGD", dict(lr=-1), "learning rate"),
    ("ASGD", dict(weight_decay=-1), "weight_decay"), ("Rprop", dict(etas=(1.2, 0.5)), "eta"),
    ("Rprop", dict(etas=(0.0, 1.2)), "eta"), ("Rprop", dict(etas=(0.5, 1.0)), "eta"),
    ("SparseAdam", dict(lr=0.0), "learning rate"), ("SparseAdam", dict(eps=0.0), "epsilon"),
    ("SparseAdam", dict(betas=(0.9, 1.0)), "index 1"),
]


@pytest.mark.parametrize("cls,kw,msg", BAD, ids=[f"{c}-{m}" for c, _, m in BAD])
def test_invalid_arguments_raise_as_torch(cls, kw, msg):
    net, tnet = pair()
    with pytest.raises(ValueError, match=msg):
        getattr(torch.optim, cls)(tnet.parameters(), **kw)
    with pytest.raises(graphc.GraphcError, match=msg) as e:
        getattr(optim, cls)(net.parameters(), **kw)
    assert isinstance(e.value, ValueError) and cls in str(e.value) or "Nesterov" in msg


def test_param_list_errors_as_torch():
    net, _ = pair()
    ps = list(net.parameters())
    for bad, exc in ((iter([]), ValueError), ([{"params": set(ps)}], TypeError),
                     ([ps[0], ps[0] * 2], ValueError), ([ps[0], 3.0], TypeError)):
        with pytest.raises(exc):
            optim.SGD(bad, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)


def test_named_parameters_give_param_names_as_torch():
    net, tnet = pair()
    opt = optim.Adam(net.named_parameters(), lr=0.01)
    topt = torch.optim.Adam(tnet.named_parameters(), lr=0.01)
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"]
    for x, y in batches(3):
        for model, o, lib, T in ((net, opt, F, graphc.tensor), (tnet, topt, tF, torch.tensor)):
            o.zero_grad()
            lib.mse_loss(model(T(x)), T(y)).backward()
            o.step()
    assert_params(net, tnet)
    assert opt.state_dict()["param_groups"][0]["param_names"] == \
        topt.state_dict()["param_groups"][0]["param_names"]


# ---- state_dict layout ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL)
def test_state_dict_layout_matches_torch_and_loads_into_a_fresh_optimizer(cls):
    kw = dict(lr=0.01) if cls != "ASGD" else dict(lr=0.01, t0=1)
    net, tnet, opt, topt, _ = run_pair(cls, kw, dict(lr=0.02), compiled=False, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert [{k: v for k, v in g.items()} for g in sd["param_groups"]] == tsd["param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, tst in tsd["state"].items():
        st = sd["state"][i]
        assert list(st) == list(tst), i
        for k, tv in tst.items():
            if isinstance(tv, torch.Tensor):
                assert isinstance(st[k], np.ndarray) and st[k].shape == tuple(tv.shape), k
                assert st[k].dtype == tv.detach().numpy().dtype, k
                np.testing.assert_allclose(st[k], tv.detach().numpy(), rtol=1e-5, atol=1e-6)
            else:
                assert type(st[k]) is type(tv) and st[k] == tv, k   # SparseAdam's int step
    # a fresh optimizer loaded from torch's state_dict continues as torch does
    net2, _ = pair()
    net2.load_state_dict({k: np.array(v.detach().numpy()) for k, v in tnet.state_dict().items()})
    opt2 = getattr(optim, cls)([{"params": list(net2.parameters())[:2]},
                                {"params": list(net2.parameters())[2:]}], **kw)
    opt2.load_state_dict(tsd)
    for x, y in batches(3, seed=9):
        for model, o, lib, T in ((net2, opt2, F, graphc.tensor), (tnet, topt, tF, torch.tensor)):
            o.zero_grad()
            lib.mse_loss(model(T(x)), T(y)).backward()
            if lib is tF and cls == "SparseAdam":
                for tp in tnet.parameters():
                    tp.grad = tp.grad.to_sparse(1)
            o.step()
    assert_params(net2, tnet)


# ---- SparseAdam's sparse meaning on dense gradients ----------------------------------------------

@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_sparse_adam_leaves_rows_without_gradient_as_torch_embedding(compiled):
    """An embedding lookup: torch's sparse gradient holds the looked-up rows only, graphc's dense
    one is zero elsewhere; rows never looked up keep their moments and values."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((10, 4)).astype(np.float32)
    w = nn.Parameter(graphc.tensor(w0))
    tw = torch.nn.Parameter(torch.tensor(w0))
    opt, topt = optim.SparseAdam([w], lr=0.1), torch.optim.SparseAdam([tw], lr=0.1)
    onehots = np.eye(10, dtype=np.float32)

    def step(x, t):
        opt.zero_grad()
        loss = ((x @ w - t) ** 2).sum()        # x one-hot rows: an embedding lookup
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = graphc.compile(step)
    for i in range(8):
        idx = rng.choice(7, 3, replace=False)          # rows 7..9 are never looked up
        t = rng.standard_normal((3, 4)).astype(np.float32)
        step(graphc.tensor(onehots[idx]), graphc.tensor(t))
        topt.zero_grad()
        ((tF.embedding(torch.tensor(idx), tw, sparse=True) - torch.tensor(t)) ** 2).sum().backward()
        assert tw.grad.is_sparse
        topt.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(w.numpy()[7:], w0[7:])
    assert np.abs(w.numpy()[:7] - w0[:7]).max() > 0.1


# ---- hyperparameters are runtime inputs: schedules never retrace ---------------------------------

def _compiled_pair(make, seed=3):
    net, tnet = pair(seed)
    opt, topt = make(optim, net.parameters()), make(torch.optim, tnet.parameters())

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    def tstep(x, y):
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        return tl

    return net, tnet, opt, topt, step, tstep


MOMENTUM_SCHEDULES = {
    "onecycle-sgd": (lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                     lambda L, o: L.OneCycleLR(o, max_lr=0.2, total_steps=20)),
    "onecycle-adam": (lambda m, ps: m.Adam(ps, lr=0.01),
                      lambda L, o: L.OneCycleLR(o, max_lr=0.05, total_steps=20,
                                                three_phase=True, anneal_strategy="linear")),
    "onecycle-nadam": (lambda m, ps: m.NAdam(ps, lr=0.01),
                       lambda L, o: L.OneCycleLR(o, max_lr=0.02, total_steps=20)),
    "cyclic-sgd": (lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                   lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2")),
    "cyclic-rmsprop": (lambda m, ps: m.RMSprop(ps, lr=0.01, momentum=0.9),
                       lambda L, o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4,
                                               mode="exp_range", gamma=0.95)),
    "cyclic-adamw": (lambda m, ps: m.AdamW(ps, lr=0.01),
                     lambda L, o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4)),
}


@pytest.mark.parametrize("name", list(MOMENTUM_SCHEDULES))
def test_momentum_cycling_schedule_never_retraces_and_matches_torch(name):
    make, sched = MOMENTUM_SCHEDULES[name]
    net, tnet, opt, topt, step, tstep = _compiled_pair(make)
    s = sched(optim.lr_scheduler, opt)
    ts = sched(torch.optim.lr_scheduler, topt)
    traces, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in batches(19, seed=4):
            loss = step(graphc.tensor(x), graphc.tensor(y))
            tl = tstep(x, y)
            s.step()
            ts.step()
            g = opt.param_groups[0]
            moms.append(g["betas"][0] if "betas" in g else g["momentum"])
            assert moms[-1] == (topt.param_groups[0]["betas"][0] if "betas" in g
                                else topt.param_groups[0]["momentum"])
            traces.append(len(step._cache))
            np.testing.assert_allclose(float(loss), tl.item(), rtol=2e-5)
            assert_params(net, tnet, atol=2e-6)
    changed = sum(a != b for a, b in zip(moms, moms[1:]))
    assert len(set(moms)) >= 5 and changed >= len(moms) // 2   # it changed step after step
    assert traces == [1] + [2] * (len(traces) - 1), traces   # first step, then one graph


def test_hand_changed_hyperparameters_reach_the_compiled_step_without_retracing():
    """momentum, dampening and weight_decay changed between calls are read at run time; only a
    change of sign (the branch step() takes: zero or not) retraces, and then correctly."""
    make = lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01)  # noqa: E731
    net, tnet, opt, topt, step, tstep = _compiled_pair(make)
    traces = []
    for i, (x, y) in enumerate(batches(12, seed=5)):
        for g in (opt.param_groups[0], topt.param_groups[0]):
            g["momentum"] = 0.5 + 0.04 * i
            g["dampening"] = 0.01 * i
            g["weight_decay"] = 0.0 if i >= 8 else 0.01 * (i + 1)
        step(graphc.tensor(x), graphc.tensor(y))
        tstep(x, y)
        traces.append(len(step._cache))
        assert_params(net, tnet, msg=f"step {i}")
    assert traces == [1] * 1 + [2] * 7 + [3] * 4, traces


def test_adam_betas_eps_weight_decay_are_graph_inputs():
    make = lambda m, ps: m.Adam(ps, lr=0.01, weight_decay=0.1)  # noqa: E731
    net, tnet, opt, topt, step, tstep = _compiled_pair(make)
    for i, (x, y) in enumerate(batches(6, seed=6)):
        for g in (opt.param_groups[0], topt.param_groups[0]):
            g["betas"] = (0.9 - 0.05 * i, 0.999 - 0.01 * i)
            g["eps"] = 10.0 ** (-8 + i)
            g["weight_decay"] = 0.1 + 0.1 * i
        step(graphc.tensor(x), graphc.tensor(y))
        tstep(x, y)
        assert_params(net, tnet, msg=f"step {i}")
    assert len(step._cache) == 2
    head = step.ir("traced").split("{")[0]
    for name in ("%lr: f32[]", "%betas_0: f64[]", "%betas_1: f64[]", "%eps: f32[]",
                 "%weight_decay: f32[]", "%one_minus_beta1: f32[]", "%beta2: f32[]"):
        assert name in head, head


def test_a_user_step_override_keeps_exact_guards():
    """A subclass whose own step() reads group["momentum"] as a Python number: graphc cannot know
    how it uses it, so the number is baked in and a change retraces (never a stale graph)."""
    class MySGD(optim.SGD):
        @graphc.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"] * (1 + group["momentum"]))

    net, _ = pair()
    opt = MySGD(net.parameters(), lr=0.1, momentum=0.0)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        F.mse_loss(net(x), y).backward()
        opt.step()

    x, y = (graphc.tensor(a) for a in batches(1)[0])
    w = list(net.parameters())[0]
    deltas = []
    for m in (0.0, 1.0, 3.0):
        opt.param_groups[0]["momentum"] = m
        before = w.numpy().copy()
        step(x, y)
        deltas.append(np.abs(w.numpy() - before).sum())
    assert len(step._cache) == 3
    assert deltas[1] > 1.8 * deltas[0] and deltas[2] > 1.8 * deltas[1]


@pytest.mark.parametrize("cls,kw", [
    ("ASGD", dict(lr=0.05, t0=3, lambd=0.01)), ("Rprop", dict(lr=0.003)),
    ("SparseAdam", dict(lr=0.01)), ("Adam", dict(lr=0.01, betas=(0.3, 0.9), amsgrad=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
])
def test_llvm_backend_matches_torch(cls, kw):
    net, tnet = pair(4)
    opt, topt = getattr(optim, cls)(net.parameters(), **kw), getattr(torch.optim, cls)(
        tnet.parameters(), **kw)

    @graphc.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for x, y in batches(8, seed=7):
        step(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y)).backward()
        if cls == "SparseAdam":
            for tp in tnet.parameters():
                tp.grad = tp.grad.to_sparse(1)
        topt.step()
    assert_params(net, tnet, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("cls,kw", [("Adam", dict(lr=0.01, weight_decay=0.1)),
                                    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
                                    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_runtime_hyperparameters_fuse_as_constants_did(cls, kw):
    """Each elementwise use of a hyperparameter reads a graph input (computed on the host from
    the group), as it read a constant: the step has the kernels of one with the numbers baked
    in (a subclass overriding step() gets constants: graphc cannot see how it uses them)."""
    base = getattr(optim, cls)
    baked_cls = type("Baked", (base,), {"step": lambda self, closure=None: base.step(self, closure)})
    reports = []
    for c in (base, baked_cls):
        net, _ = pair()
        opt = c(net.parameters(), **kw)

        @graphc.compile
        def step(x, y):
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            opt.step()

        for x, y in batches(2):
            step(graphc.tensor(x), graphc.tensor(y))
        reports.append((step.fusion_report().splitlines()[0],
                        len(step.graph.inputs), step.ir("traced").count("constant")))
    (runtime, n_runtime, c_runtime), (baked, n_baked, c_baked) = reports
    assert runtime == baked
    assert n_runtime >= n_baked + 2 and c_runtime < c_baked    # inputs where constants were


# ---- lr schedulers over 100 epochs -------------------------------------------------------------

def _scale(x):
    return 1.0 / (1.0 + 0.1 * x)


# name: (optimizer maker, scheduler maker); each runs 100 epochs on graphc and on torch
SCHEDULES = {
    "step": lambda L, o: L.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda L, o: L.MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.3),
    "exponential": lambda L, o: L.ExponentialLR(o, gamma=0.97),
    "cosine": lambda L, o: L.CosineAnnealingLR(o, T_max=17, eta_min=0.001),
    "warm-restarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5),
    "warm-restarts-Tmult2": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                         eta_min=0.01),
    "warm-restarts-Tmult3": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
    "lambda-per-group": lambda L, o: L.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e)]),
    "multiplicative": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.97 if e % 2 else 1.01),
    "linear": lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=30),
    "constant": lambda L, o: L.ConstantLR(o, factor=0.3, total_iters=20),
    "polynomial": lambda L, o: L.PolynomialLR(o, total_iters=60, power=1.5),
    "onecycle": lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=101),
    "onecycle-linear-3phase": lambda L, o: L.OneCycleLR(
        o, max_lr=[0.5, 0.3], epochs=10, steps_per_epoch=11, anneal_strategy="linear",
        three_phase=True, pct_start=0.4, div_factor=10.0, final_div_factor=100.0,
        base_momentum=0.8, max_momentum=0.9),
    "onecycle-no-momentum": lambda L, o: L.OneCycleLR(o, max_lr=0.2, total_steps=120,
                                                      cycle_momentum=False),
    "cyclic-triangular": lambda L, o: L.CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=6),
    "cyclic-triangular2": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5,
                                                  step_size_down=9, mode="triangular2"),
    "cyclic-exp-range": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range",
                                                gamma=0.97, base_momentum=0.7),
    "cyclic-scale-fn-cycle": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=7,
                                                     scale_fn=_scale, scale_mode="cycle"),
    "cyclic-scale-fn-iterations": lambda L, o: L.CyclicLR(
        o, 0.01, 0.1, step_size_up=7, scale_fn=_scale, scale_mode="iterations",
        cycle_momentum=False),
    "sequential": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=10),
                                                  L.ExponentialLR(o, 0.9),
                                                  L.CosineAnnealingLR(o, T_max=20)],
                                              milestones=[10, 40]),
    "chained": lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.5, total_iters=15),
                                                L.ExponentialLR(o, 0.98),
                                                L.StepLR(o, 25, 0.5)]),
}
OPTIMIZERS = {
    "sgd": lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda m, ps: m.Adam(ps, lr=0.01),
}


def _two_groups(lib, make):
    ps = [lib.nn.Parameter(lib.ones(2)), lib.nn.Parameter(lib.ones(3))]
    return make(lib.optim, [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}])


def _momenta(opt):
    return [g["betas"] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def _same_plain(ours, theirs, path="state_dict"):
    """Equal plain data (numbers, strings, lists, dicts, None); functions are not compared."""
    if callable(ours) or callable(theirs):
        return
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (path, set(ours) ^ set(theirs))
        for k in theirs:
            _same_plain(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same_plain(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs or (ours != ours and theirs != theirs), (path, ours, theirs)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_scheduler_100_epochs_state_dict_and_resume_match_torch(name, opt_name):
    make = OPTIMIZERS[opt_name]
    opt, topt = _two_groups(graphc, make), _two_groups(torch, make)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, ts = SCHEDULES[name](graphc.optim.lr_scheduler, opt), SCHEDULES[name](
            torch.optim.lr_scheduler, topt)
        seen = set()
        for epoch in range(100):
            lrs = [g["lr"] for g in opt.param_groups]
            assert lrs == [g["lr"] for g in topt.param_groups], (epoch, lrs)
            assert s.get_last_lr() == ts.get_last_lr() == lrs, epoch
            assert _momenta(opt) == _momenta(topt), epoch
            seen.add(tuple(lrs))
            if epoch == 50:   # a checkpoint: torch's layout, and a fresh pair resumes from it
                _same_plain(s.state_dict(), ts.state_dict())
                opt2 = _two_groups(graphc, make)
                s2 = SCHEDULES[name](graphc.optim.lr_scheduler, opt2)
                opt2.load_state_dict(opt.state_dict())
                s2.load_state_dict(s.state_dict())
                opt, s = opt2, s2
                assert s.get_last_lr() == ts.get_last_lr()
            s.step()
            ts.step()
    assert len(seen) >= 2                             # the schedule changed the lr


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"),
                                                 ("max", "abs")])
def test_reduce_lr_on_plateau_100_epochs_match_torch(mode, threshold_mode):
    make = OPTIMIZERS["sgd"]
    opt, topt = _two_groups(graphc, make), _two_groups(torch, make)
    kw = dict(mode=mode, threshold_mode=threshold_mode, factor=0.7, patience=3, threshold=0.05,
              cooldown=2, min_lr=[0.001, 0.004], eps=1e-4)
    s = graphc.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    rng = np.random.default_rng(8)
    metric, lrs = 1.0, []
    for epoch in range(100):
        metric = metric * (0.97 if mode == "min" else 1.03) ** rng.choice([1, 0, -1, 2]) \
            + rng.normal(0, 0.002)
        s.step(graphc.tensor(np.float32(metric)) if epoch % 3 == 0 else metric)
        ts.step(float(np.float32(metric)) if epoch % 3 == 0 else metric)
        lrs.append([g["lr"] for g in opt.param_groups])
        assert lrs[-1] == [g["lr"] for g in topt.param_groups], epoch
        assert s.get_last_lr() == ts.get_last_lr()
        if epoch == 60:
            _same_plain({k: v for k, v in s.state_dict().items() if k != "optimizer"},
                        {k: v for k, v in ts.state_dict().items() if k != "optimizer"})
            s2 = graphc.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
            s2.load_state_dict(s.state_dict())
            s = s2
    assert len({tuple(x) for x in lrs}) > 3          # it reduced several times


def test_warm_restarts_with_fractional_epochs_match_torch():
    make = OPTIMIZERS["sgd"]
    opt, topt = _two_groups(graphc, make), _two_groups(torch, make)
    L, TL = graphc.optim.lr_scheduler, torch.optim.lr_scheduler
    s = L.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    ts = TL.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2, eta_min=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(12):
            for i in range(5):
                s.step(epoch + i / 5)
                ts.step(epoch + i / 5)
                assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
                assert s.T_cur == ts.T_cur and s.T_i == ts.T_i


SCHED_ERRORS = [
    lambda L, o: L.LinearLR(o, start_factor=0.0),
    lambda L, o: L.ConstantLR(o, factor=2.0),
    lambda L, o: L.OneCycleLR(o, max_lr=0.1),
    lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="square"),
    lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
    lambda L, o: L.CyclicLR(o, 0.01, 0.1, mode="sawtooth"),
    lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda L, o: L.ReduceLROnPlateau(o, mode="middle"),
    lambda L, o: L.ReduceLROnPlateau(o, factor=1.0),
    lambda L, o: L.ReduceLROnPlateau(o, threshold_mode="percent"),
    lambda L, o: L.LambdaLR(o, [lambda e: 1.0] * 3),
    lambda L, o: L.SequentialLR(o, [L.ConstantLR(o), L.ExponentialLR(o, 0.9)], milestones=[]),
    lambda L, o: L.StepLR(o, step_size=3, last_epoch=5),      # no initial_lr to resume from
    lambda L, o: L.StepLR("not an optimizer", step_size=3),
]


@pytest.mark.parametrize("k", range(len(SCHED_ERRORS)))
def test_scheduler_argument_errors_are_torchs(k):
    make = OPTIMIZERS["sgd"]
    with pytest.raises(Exception) as te:
        SCHED_ERRORS[k](torch.optim.lr_scheduler, _two_groups(torch, make))
    with pytest.raises(graphc.GraphcError) as e:
        SCHED_ERRORS[k](graphc.optim.lr_scheduler, _two_groups(graphc, make))
    assert isinstance(e.value, type(te.value)), (e.value, te.value)


def test_cycle_momentum_needs_momentum_as_torch():
    for lib in (torch, graphc):
        o = _two_groups(lib, lambda m, ps: m.Adagrad(ps, lr=0.1))
        with pytest.raises(ValueError, match="momentum"):
            lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1)
        with pytest.raises(ValueError, match="momentum"):
            lib.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=10)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(lr=0.01)), ("Adagrad", dict(lr=0.1))])
def test_compiled_float64_updates_use_the_unrounded_lr(name, kw):
    """A float64 model's lr reaches the compiled update as a double, as torch's Python float
    does (an f32 lr input moved the weights by ~1e-9 relative per step)."""
    graphc.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    t = torch.nn.Linear(3, 2).double()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in lin.state_dict().items()})
    opt, topt = getattr(optim, name)(lin.parameters(), **kw), getattr(torch.optim, name)(
        t.parameters(), **kw)
    x = np.random.default_rng(0).standard_normal((4, 3))

    def step(x):
        opt.zero_grad()
        loss = lin(x).square().mean()
        loss.backward()
        opt.step()
        return loss
    f = graphc.compile(step)
    for _ in range(3):
        f(x)
        topt.zero_grad()
        t(torch.from_numpy(x)).square().mean().backward()
        topt.step()
    np.testing.assert_allclose(lin.weight.numpy(), t.weight.detach().numpy(), rtol=0, atol=1e-15)
