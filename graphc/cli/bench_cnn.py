"""The convolutional workloads of `python -m graphc bench`: train steps and inference of three CNNs.

Each model is written once against PyTorch's API and built twice from the same class body, with
`lib = graphc` and with `lib = torch` (the import swap a graphc user makes), then loaded with the
same weights; JAX gets the same network as a pure function of its parameters.

- `mnist`: pytorch/examples' MNIST net (convs 1-32-64 3x3, max-pool 2, dropout, fc 9216-128-10,
  log_softmax + nll_loss), Adadelta (lr 1.0), batch 64, 28x28 inputs.
- `lenet`: the 60-minute blitz's LeNet-5 (convs 1-6-16 5x5, max-pools, fc 400-120-84-10),
  cross_entropy, SGD (lr 0.01, momentum 0.9), batch 64, 32x32 inputs.
- `resblock`: a ResNet basic block (two 3x3 convs of 64 channels without bias, BatchNorm in train
  mode, the residual add, ReLU) with a global-average-pool + Linear(64, 10) head, cross_entropy,
  SGD (lr 0.01, momentum 0.9), batch 32, 32x32 inputs. JAX's version normalises with the batch
  statistics but keeps no running statistics (graphc and PyTorch update theirs).

Every step returns its loss, so the tests check that all contenders compute the same thing
(with dropout off).
"""
from __future__ import annotations

import functools
import io

import numpy as np

import graphc

MODELS = ("mnist", "lenet", "resblock")
BATCH = {"mnist": 64, "lenet": 64, "resblock": 32}
INPUT = {"mnist": (1, 28, 28), "lenet": (1, 32, 32), "resblock": (64, 32, 32)}
TITLE = {"mnist": "MNIST CNN", "lenet": "LeNet-5", "resblock": "ResNet block"}


def build(kind: str, lib, dropout: bool = True):
    """The `kind` network as a `lib.nn.Module` (lib: graphc or torch)."""
    nn, F = lib.nn, lib.nn.functional

    class MnistNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25 if dropout else 0.0)
            self.dropout2 = nn.Dropout(0.5 if dropout else 0.0)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
            x = F.relu(self.fc1(lib.flatten(self.dropout1(x), 1)))
            return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = lib.flatten(F.max_pool2d(F.relu(self.conv2(x)), 2), 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class ResBlock(nn.Module):
        def __init__(self, c=64):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.fc = nn.Linear(c, 10)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)) + x)
            return self.fc(lib.flatten(F.adaptive_avg_pool2d(out, 1), 1))

    return {"mnist": MnistNet, "lenet": LeNet5, "resblock": ResBlock}[kind]()


def _loss(kind: str, lib):
    F = lib.nn.functional
    return F.nll_loss if kind == "mnist" else F.cross_entropy


def _optimizer(kind: str, lib, params):
    if kind == "mnist":
        return lib.optim.Adadelta(params, lr=1.0)
    return lib.optim.SGD(params, lr=0.01, momentum=0.9)


def data(kind: str, batch: int | None = None, seed: int = 0):
    """Random inputs (batch, *INPUT[kind]) and class targets."""
    rng = np.random.default_rng(seed)
    n = BATCH[kind] if batch is None else batch
    x = rng.standard_normal((n, *INPUT[kind])).astype(np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


def weights(kind: str) -> dict:
    """The initial state_dict (parameters and buffers) as NumPy arrays, from graphc's seed 0."""
    graphc.manual_seed(0)
    return {k: np.array(v.numpy()) for k, v in build(kind, graphc).state_dict().items()}


def _torch_model(kind: str, init: dict, dropout: bool):
    import torch
    model = build(kind, torch, dropout)
    model.load_state_dict({k: torch.from_numpy(a.copy()) for k, a in init.items()})
    return model


def _step(model, opt, loss):
    def step(x, y):
        opt.zero_grad()
        out = loss(model(x), y)
        out.backward()
        opt.step()
        return out
    return step


def train_contenders(kind: str, batch: int | None = None, dropout: bool = True,
                     interpreter: bool = True, frameworks: bool = True,
                     torch_compile: bool = True) -> dict:
    """contender -> a zero-argument train step returning its loss (None: not installed)."""
    x, y = data(kind, batch)
    init = weights(kind)

    def make_step(lib, model, run):
        return _step(run, _optimizer(kind, lib, model.parameters()), _loss(kind, lib))
    out = twin_steps(lambda lib: build(kind, lib, dropout), make_step, init, x, y, interpreter,
                     frameworks, torch_compile)
    if not frameworks:
        return out
    out["jax jit"] = _jax_train(kind, init, x, y)
    return out


def twin_steps(make, make_step, init: dict, x, y, interpreter: bool = True,
               frameworks: bool = True, torch_compile: bool = True,
               compile_step: bool = False) -> dict:
    """Train steps of the model class `make(lib)` built with graphc (compiled on each backend)
    and with torch (eager, and torch.compile of the model, or with compile_step of the whole
    step), every one loaded with the state `init`: contender -> a zero-argument step.
    `make_step(lib, model, run)` returns step(x, y), `run` being the model to call."""
    out = {}
    for backend in ("llvm", "interpreter") if interpreter else ("llvm",):
        model = make(graphc)
        model.load_state_dict({k: graphc.tensor(a) for k, a in init.items()})
        c = graphc.compile(make_step(graphc, model, model), backend=backend)
        out[f"graphc {backend}"] = functools.partial(c, x, y)
    if not frameworks:
        return out
    try:
        import torch
    except ImportError:
        out["pytorch eager"] = out["torch.compile"] = None
        return out
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for name in ("pytorch eager", "torch.compile") if torch_compile else ("pytorch eager",):
        model = make(torch)
        model.load_state_dict({k: torch.from_numpy(a.copy()) for k, a in init.items()})
        eager = name == "pytorch eager"
        step = make_step(torch, model, model if eager or compile_step else torch.compile(model))
        out[name] = functools.partial(step if eager or not compile_step else
                                      torch.compile(step), tx, ty)
    return out


def infer_contenders(kind: str, batch: int, interpreter: bool = True, frameworks: bool = True,
                     torch_compile: bool = True) -> dict:
    """contender -> a zero-argument eval-mode forward returning the output (None: not installed)."""
    x, _ = data(kind, batch)
    init = weights(kind)
    out = {}
    model = build(kind, graphc).eval()
    model.load_state_dict({k: graphc.tensor(a) for k, a in init.items()})
    for backend in ("llvm", "interpreter") if interpreter else ("llvm",):
        out[f"graphc {backend}"] = functools.partial(graphc.compile(model, backend=backend), x)
    if not frameworks:
        return out
    try:
        import torch
    except ImportError:
        out["pytorch eager"] = out["torch.compile"] = out["onnxruntime"] = None
    else:
        tmodel = _torch_model(kind, init, True).eval()
        tx = torch.from_numpy(x)

        def infer(m):
            with torch.inference_mode():
                return m(tx)
        out["pytorch eager"] = functools.partial(infer, tmodel)
        if torch_compile:
            out["torch.compile"] = functools.partial(infer, torch.compile(tmodel))
        out["onnxruntime"] = _onnx(tmodel, x)
    out["jax jit"] = _jax_infer(kind, init, x)
    return out


def _onnx(tmodel, x):
    """The PyTorch model exported to ONNX (TorchScript exporter), run by ONNX Runtime, or None."""
    try:
        import onnxruntime as ort
        import torch
    except ImportError:
        return None
    buf = io.BytesIO()
    torch.onnx.export(tmodel, (torch.from_numpy(x),), buf, dynamo=False, input_names=["x"])
    opts = ort.SessionOptions()
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})[0]


# ---- JAX ---------------------------------------------------------------------------------------

def _jax_forward(kind: str, jnp, p: dict, x):
    """The network as a pure function (NCHW, OIHW as in PyTorch; dropout left out)."""
    import jax
    from jax import lax

    def conv(x, w, b=None, pad=0):
        y = lax.conv_general_dilated(x, w, (1, 1), [(pad, pad)] * 2,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y if b is None else y + b[None, :, None, None]

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def lin(x, name):
        return x @ p[name + ".weight"].T + p[name + ".bias"]

    def bn(x, name, eps=1e-5):
        m = x.mean((0, 2, 3), keepdims=True)
        v = ((x - m) ** 2).mean((0, 2, 3), keepdims=True)
        w, b = p[name + ".weight"][None, :, None, None], p[name + ".bias"][None, :, None, None]
        return (x - m) / jnp.sqrt(v + eps) * w + b
    relu = functools.partial(jnp.maximum, 0)
    if kind == "mnist":
        x = relu(conv(relu(conv(x, p["conv1.weight"], p["conv1.bias"])),
                      p["conv2.weight"], p["conv2.bias"]))
        x = relu(lin(pool(x).reshape(x.shape[0], -1), "fc1"))
        return jax.nn.log_softmax(lin(x, "fc2"))
    if kind == "lenet":
        x = pool(relu(conv(x, p["conv1.weight"], p["conv1.bias"])))
        x = pool(relu(conv(x, p["conv2.weight"], p["conv2.bias"])))
        return lin(relu(lin(relu(lin(x.reshape(x.shape[0], -1), "fc1")), "fc2")), "fc3")
    out = relu(bn(conv(x, p["conv1.weight"], pad=1), "bn1"))
    out = relu(bn(conv(out, p["conv2.weight"], pad=1), "bn2") + x)
    return lin(out.mean((2, 3)), "fc")


def _jax_update(kind: str, params, state, g):
    """Adadelta (lr 1, rho 0.9, eps 1e-6) or SGD (lr 0.01, momentum 0.9), PyTorch's formulas."""
    import jax
    import jax.numpy as jnp
    tm = jax.tree_util.tree_map
    if kind == "mnist":
        sq, acc = state
        sq = tm(lambda s, d: 0.9 * s + 0.1 * d * d, sq, g)
        delta = tm(lambda s, a, d: jnp.sqrt(a + 1e-6) / jnp.sqrt(s + 1e-6) * d, sq, acc, g)
        acc = tm(lambda a, d: 0.9 * a + 0.1 * d * d, acc, delta)
        return tm(lambda p, d: p - d, params, delta), (sq, acc)
    (buf,) = state
    buf = tm(lambda b, d: 0.9 * b + d, buf, g)
    return tm(lambda p, b: p - 0.01 * b, params, buf), (buf,)


def _jax_params(init: dict):
    import jax.numpy as jnp
    return {k: jnp.asarray(a) for k, a in init.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _jax_train(kind: str, init: dict, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss(p, x, y):
        z = _jax_forward(kind, jnp, p, x)
        logp = z if kind == "mnist" else jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state, x, y):
        val, g = jax.value_and_grad(loss)(params, x, y)
        return *_jax_update(kind, params, state, g), val
    params = _jax_params(init)
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
    box = [params, (zeros(), zeros()) if kind == "mnist" else (zeros(),)]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def run():
        box[0], box[1], val = step(box[0], box[1], jx, jy)
        return val.block_until_ready()
    return run


def _jax_infer(kind: str, init: dict, x):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if kind == "resblock":
        return None   # BatchNorm's eval mode (running statistics) is not written for JAX here
    f = jax.jit(functools.partial(_jax_forward, kind, jnp))
    params, jx = _jax_params(init), jnp.asarray(x)
    return lambda: f(params, jx).block_until_ready()
