"""Public PyTorch programs that use issue 17's tensor surface (integer-tensor and mask indexing,
gather/scatter, masked_fill, var/std/topk, matmul families, losses, optimizers, schedulers,
gradient clipping), ported faithfully in tests/corpus/ with only their sizes, step counts and data
made small. Each runs three ways: with torch, with graphc eagerly (`import graphc as torch`), and
with graphc and its training step under `graphc.compile`; losses per step, final parameters and
what the program prints must agree within float32 rounding.

The programs draw their random numbers through tests/corpus/shim.py (one NumPy stream for both
frameworks, in the programs' own calls); `test_native_random` runs them on graphc's own generator.
"""
from __future__ import annotations

import numpy as np
import pytest
from corpus import annotated, examples, losses, makemore, mingpt, nn_tutorial, shim

import graphc

pytestmark = pytest.mark.filterwarnings("ignore:'pin_memory' argument")  # torch, minGPT's loader

RTOL, ATOL = 1e-4, 1e-5   # float32 over a few steps: summation orders differ, errors compound
# Adam divides by sqrt(v) + eps: a weight whose gradient is a few terms near eps in size moves by
# a fraction of lr on a rounding difference (seen once in 50 000 weights)
PARAM_ATOL = 5e-5

PROGRAMS = [*makemore.PROGRAMS, *nn_tutorial.PROGRAMS, *examples.PROGRAMS, *mingpt.PROGRAMS,
            *annotated.PROGRAMS, *losses.PROGRAMS]

XFAIL: dict[tuple[str, str], str] = {}   # (program, mode) -> why graphc cannot match torch yet
# programs whose step graphc must refuse to compile, with the error and a word it must contain
REFUSED = {"copy_task": (graphc.TraceError, "nonzero")}


def _identity(fn=None, **kwargs):
    return fn if fn is not None else (lambda f: f)


def _flat(value):
    """A program's result as a list of floats and strings (tensors flattened)."""
    if isinstance(value, (list, tuple)):
        return [y for v in value for y in _flat(v)]
    if isinstance(value, str):
        return [value]
    if hasattr(value, "detach"):
        value = value.detach().numpy()
    return np.asarray(value, np.float64).ravel().tolist()


def _compare(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        g, w = _flat(got[key]), _flat(value)
        assert len(g) == len(w), f"{key}: {len(g)} values, torch has {len(w)}"
        strings = [(a, b) for a, b in zip(g, w) if isinstance(b, str)]
        assert all(a == b for a, b in strings), f"{key}: {strings}"
        nums = [(a, b) for a, b in zip(g, w) if not isinstance(b, str)]
        if nums:
            a, b = np.array(nums).T
            atol = PARAM_ATOL if key == "params" else ATOL
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=key)


def _run(program, module, mode):
    compile = {"compiled": graphc.compile, "llvm": lambda fn: graphc.compile(fn, backend="llvm"),
               "eager": _identity}[mode]
    return program(shim.NumpyRandom(module, seed=0), compile)


def _cases():
    out = []
    for program in PROGRAMS:
        for mode in ("eager", "compiled"):
            marks = []
            reason = XFAIL.get((program.__name__, mode))
            if reason:
                marks = [pytest.mark.xfail(strict=True, reason=reason)]
            out.append(pytest.param(program, mode, marks=marks, id=f"{program.__name__}-{mode}"))
    # native code for the indexing, one-hot, gather/scatter and scheduler steps (the others'
    # compiled runs use the interpreter, as conftest sets)
    for program in (makemore.bigram, makemore.mlp, losses.label_smoothing_steplr):
        out.append(pytest.param(program, "llvm", id=f"{program.__name__}-llvm"))
    return out


_TORCH: dict = {}


@pytest.mark.parametrize("program, mode", _cases())
def test_program_matches_torch(program, mode):
    torch = pytest.importorskip("torch")
    if program not in _TORCH:   # each mode compares with the same torch run
        _TORCH[program] = _run(program, torch, "eager")
    want = _TORCH[program]
    if mode != "eager" and program.__name__ in REFUSED:
        error, word = REFUSED[program.__name__]
        with pytest.raises(error, match=word):
            _run(program, graphc, mode)
        return
    got = _run(program, graphc, mode)
    _compare(got, want)


@pytest.mark.parametrize("program", [makemore.bigram, makemore.mlp, mingpt.sort_task],
                         ids=lambda p: p.__name__)
def test_native_random(program):
    """On graphc's own generator (`torch.Generator().manual_seed(...)`, randn, randint,
    multinomial, RandomSampler), eager and compiled runs draw the same numbers: same results."""
    graphc.manual_seed(0)   # the default generator too (minibatches, SortDataset)
    want = program(graphc, _identity)
    graphc.manual_seed(0)
    got = program(graphc, graphc.compile)
    _compare(got, want)


def test_optimizer_held_by_self():
    """minGPT's Trainer creates `self.optimizer` in run(), after its step was compiled; the
    compiled method's optimizer is then the one on `self` (its state is graph state)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    w = rng.standard_normal((4, 4)).astype(np.float32)

    class Trainer:
        def __init__(self, compile):
            self.model = graphc.nn.Linear(4, 4)
            with graphc.no_grad():
                self.model.weight.copy_(graphc.tensor(w))
                self.model.bias.zero_()
            self.optimizer = None
            self.step = compile(self._step)

        def _step(self, x):
            loss = self.model(x).pow(2).mean()
            self.model.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            return loss

    runs = []
    for compile in (_identity, graphc.compile):
        t = Trainer(compile)
        losses = []
        for opt in ("first", "second"):   # a new optimizer on self: the step follows it
            t.optimizer = graphc.optim.AdamW(t.model.parameters(), lr=0.05)
            losses += [t.step(graphc.tensor(x)).item() for _ in range(3)]
        runs.append(losses + t.model.weight.numpy().ravel().tolist())
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-5, atol=1e-6)
