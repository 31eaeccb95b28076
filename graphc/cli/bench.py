"""`python -m graphc bench`: graphc compiled vs interpreted vs NumPy vs the frameworks installed.

Every workload runs each contender in the same process, best-of-N with the spread
((median - best) / best), so ratios are comparable on a noisy machine. Contenders that are not
installed (PyTorch, JAX, ONNX Runtime) are reported as such, never silently dropped.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

import graphc
from graphc import nn, optim
from graphc.cli import bench_cnn, bench_qrnn, bench_quant, bench_seq
from graphc.ir import fusion_of
from graphc.ir.ops import NO_KERNEL


@dataclass
class Result:
    """One timing: a contender on a workload, in µs per call (None if not installed)."""

    workload: str
    contender: str
    best_us: float | None
    median_us: float | None = None
    spread: float | None = None
    note: str = ""


@dataclass
class Report:
    """The machine description, every Result, and compile figures per workload."""

    machine: dict
    results: list[Result] = field(default_factory=list)
    compile: dict = field(default_factory=dict)


def timeit(fn: Callable, repeat: int, number: int | None = None, budget: float = 0.3):
    """Best and median seconds per call over `repeat` rounds (calls per round auto-sized).

    Waits 50 ms first: thread pools of the contender timed just before (ONNX Runtime's and
    OpenMP's workers spin after their last task) must not share the cores with this one."""
    time.sleep(0.05)
    fn()
    if number is None:
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        number = max(1, min(10_000, int(budget / repeat / one)))
    times = []
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - t0) / number)
    finally:
        gc.enable()
    return min(times), statistics.median(times)


def machine() -> dict:
    """CPU, thread count and library versions (BLAS, torch, jax, onnxruntime) of this machine."""
    from graphc.backend.llvm import pool, target
    h = target.host()
    info = {"cpu": h["cpu"], "cores": os.cpu_count(), "threads": pool.num_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)")}
    try:
        cfg = np.show_config(mode="dicts")
        info["blas"] = cfg["Build Dependencies"]["blas"].get("name", "?")
        info["openblas"] = cfg["Build Dependencies"]["blas"].get("openblas configuration", "")
    except Exception:  # noqa: BLE001 - older NumPy
        pass
    for mod in ("torch", "jax", "onnxruntime"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - not installed
            info[mod] = None
    return info


class Net(nn.Module):
    """The seed MLP (784-128-10) or a deeper one."""

    def __init__(self, sizes=(784, 128, 10)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        """Each Linear in turn, with a ReLU between layers (none after the last)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = graphc.relu(x)
        return x


def _data(batch, n_in=784, n_out=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, n_in)).astype(np.float32), \
        rng.integers(0, n_out, batch).astype(np.int64)


def _numpy_mlp(ws, x):
    for i, (w, b) in enumerate(ws):
        x = x @ w.T + b
        if i < len(ws) - 1:
            x = np.maximum(x, 0)
    return x


def _numpy_train_step(ws, state, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Hand-written NumPy: forward, softmax cross-entropy, backward, Adam — the baseline."""
    acts = [x]
    for i, (w, b) in enumerate(ws):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
    logits = acts[-1]
    m = logits.max(1, keepdims=True)
    e = np.exp(logits - m)
    p = e / e.sum(1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    g = p
    g[np.arange(n), y] -= 1
    g /= n
    state["t"] += 1
    t = state["t"]
    for i in reversed(range(len(ws))):
        w, b = ws[i]
        gw, gb = g.T @ acts[i], g.sum(0)
        if i:
            g = (g @ w) * (acts[i] > 0)
        for k, (param, grad) in enumerate(((w, gw), (b, gb))):
            mo, v = state["m"][i][k], state["v"][i][k]
            mo *= b1
            mo += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            param -= lr / (1 - b1 ** t) * mo / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return loss


def bench_train(report: Report, sizes, batch: int, repeat: int, frameworks: bool):
    """Time one Adam training step of an MLP: graphc's backends, NumPy, PyTorch and JAX."""
    name = f"train {'-'.join(map(str, sizes))} b{batch}"
    x, y = _data(batch, sizes[0], sizes[-1])
    graphc.manual_seed(0)
    results = {}
    for backend in ("llvm", "interpreter"):
        net = Net(sizes)
        crit = nn.CrossEntropyLoss()
        opt = optim.Adam(net.parameters(), lr=1e-3)

        def step(data, target, net=net, crit=crit, opt=opt):
            opt.zero_grad()
            loss = crit(net(data), target)
            loss.backward()
            opt.step()
            return loss
        c = graphc.compile(step, backend=backend)
        t0 = time.perf_counter()
        c(x, y)
        c(x, y)
        compile_s = time.perf_counter() - t0
        if backend == "llvm":
            snapshot = [p.numpy().copy() for p in net.parameters()]
            again = graphc.compile(step, backend=backend)  # same IR: served by the object cache
            t0 = time.perf_counter()
            again(x, y)
            again(x, y)
            warm_s = time.perf_counter() - t0
            for p, a in zip(net.parameters(), snapshot):
                p.data = a
            report.compile[name] = {"first two calls (trace + compile) s": round(compile_s, 3),
                                    "same with a warm compile cache s": round(warm_s, 3),
                                    "arena bytes": c.graph.meta.get("arena"),
                                    "kernels": sum(1 for n in c.graph.nodes
                                                   if fusion_of(n) not in NO_KERNEL)}
        best, med = timeit(lambda: c(x, y), repeat)
        results[f"graphc {backend}"] = (best, med)
    ws = [(np.array(p.weight.data), np.array(p.bias.data)) for p in Net(sizes).layers]
    st = {"t": 0, "m": [[np.zeros_like(w), np.zeros_like(b)] for w, b in ws],
          "v": [[np.zeros_like(w), np.zeros_like(b)] for w, b in ws]}
    results["numpy (hand-written)"] = timeit(lambda: _numpy_train_step(ws, st, x, y), repeat)
    if frameworks:
        results.update(_torch_train(sizes, x, y, repeat))
        results["jax jit"] = _jax_train(ws, x, y, repeat)
    _add(report, name, results)


def _jax_train(ws, x, y, repeat):
    """The same step in JAX: value_and_grad of the loss plus a hand-written Adam, all in one jit."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jnp.maximum(h, 0)
        return _jax_xent(h, y)

    @jax.jit
    def step(params, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        return *_jax_adam_update(params, m, v, t, g), loss
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in ws]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [params, zeros, zeros, jnp.float32(0)]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def run():
        state[:] = step(*state, jx, jy)[:4]
        state[0][0][0].block_until_ready()
    return timeit(run, repeat)


def _torch_train(sizes, x, y, repeat):
    out = {}
    try:
        import torch
    except ImportError:
        return {"pytorch eager": None}
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = _train_step(net, opt, torch.nn.CrossEntropyLoss())
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    out["pytorch eager"] = timeit(lambda: step(tx, ty), repeat)
    return out


# ---- cat + split and cross_entropy(ignore_index=) train steps (issue 17's rows) --------------------
# Each workload builds one step per contender from the same initial weights; every step returns
# its loss, so tests/test_bench.py checks that all contenders compute the same thing.

class SplitNet(nn.Module):
    """A grouped linear layer with two groups inside an MLP: 784 -> 256 (ReLU), the activation
    split into two halves of 128, each through its own Linear (one ReLU, one tanh), the halves
    concatenated back and classified 256 -> 10 (ResNeXt-style split-transform-merge)."""

    def __init__(self, n_in=784, hidden=256, n_out=10):
        super().__init__()
        h = hidden // 2
        self.fc1, self.fa, self.fb = nn.Linear(n_in, hidden), nn.Linear(h, h), nn.Linear(h, h)
        self.fc2 = nn.Linear(hidden, n_out)

    def forward(self, x):
        """fc1, split, the two branches, cat, fc2."""
        a, b = graphc.split(graphc.relu(self.fc1(x)), self.fa.in_features, dim=1)
        return self.fc2(graphc.cat([graphc.relu(self.fa(a)), graphc.tanh(self.fb(b))], dim=1))


class LMHead(nn.Module):
    """A small language-model head: hidden states (tokens, d) -> Linear(d, d) + ReLU ->
    Linear(d, vocab) logits."""

    def __init__(self, d=128, vocab=65):
        super().__init__()
        self.fc, self.head = nn.Linear(d, d), nn.Linear(d, vocab)

    def forward(self, x):
        """The vocabulary logits of every token."""
        return self.head(graphc.relu(self.fc(x)))


def _split_forward(lib, p, x):
    """SplitNet's forward written for torch or jax.numpy (`lib`), parameters in a dict."""
    lin = lambda h, k: h @ p[k + ".weight"].T + p[k + ".bias"]  # noqa: E731
    h = lib.maximum(lin(x, "fc1"), 0)
    n = p["fa.weight"].shape[1]
    a, b = h[:, :n], h[:, n:]
    return lin(lib.concatenate([lib.maximum(lin(a, "fa"), 0), lib.tanh(lin(b, "fb"))], 1), "fc2")


def _lm_forward(lib, p, x):
    """LMHead's forward for jax.numpy."""
    h = lib.maximum(x @ p["fc.weight"].T + p["fc.bias"], 0)
    return h @ p["head.weight"].T + p["head.bias"]


def _jax_masked_xent(logits, y, ignore_index=-100):
    """torch's cross_entropy(ignore_index=) in JAX: mean over the targets that are not ignored."""
    import jax
    import jax.numpy as jnp
    keep = y != ignore_index
    logp = jax.nn.log_softmax(logits)
    picked = jnp.take_along_axis(logp, jnp.where(keep, y, 0)[:, None], axis=1)[:, 0]
    return -jnp.sum(jnp.where(keep, picked, 0.0)) / jnp.sum(keep)


def _jax_xent(logits, y):
    import jax
    import jax.numpy as jnp
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def _train_step(model, opt, crit):
    """step(data, target): one optimizer step on crit(model(data), target), returning the loss
    (graphc or PyTorch objects alike)."""
    def step(data, target):
        opt.zero_grad()
        loss = crit(model(data), target)
        loss.backward()
        opt.step()
        return loss
    return step


def _jax_adam_update(params, m, v, t, g):
    """Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8) on JAX pytrees: the new (params, m, v, t)."""
    import jax
    import jax.numpy as jnp
    t = t + 1
    m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
    v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
    lr_t = 1e-3 / (1 - 0.9 ** t)
    params = jax.tree_util.tree_map(
        lambda p, a, b: p - lr_t * a / (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8), params, m, v)
    return params, m, v, t


def _jax_adam_step(forward, loss, init: dict, x, y):
    """One jit-compiled Adam step (value_and_grad + a hand-written Adam), or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    import functools

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, m, v, t, x, y):
        val, g = jax.value_and_grad(lambda p: loss(forward(jnp, p, x), y))(params)
        return *_jax_adam_update(params, m, v, t, g), val
    params = {k: jnp.asarray(a) for k, a in init.items()}
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
    state = [params, zeros(), zeros(), jnp.float32(0)]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def run():
        *state[:], val = step(*state, jx, jy)
        return val.block_until_ready()
    return run


def _torch_adam_step(module, loss, init: dict, x, y):
    """One PyTorch eager Adam step of `module` (a torch.nn.Module built from the same weights)."""
    import torch
    with torch.no_grad():
        for k, p in module.named_parameters():
            p.copy_(torch.from_numpy(init[k]))
    step = _train_step(module, torch.optim.Adam(module.parameters(), lr=1e-3), loss)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    return lambda: step(tx, ty)


def _contenders(make, crit, torch_module, torch_loss, jax_forward, jax_loss, x, y,
                frameworks: bool, interpreter: bool = True) -> dict:
    """contender name -> a zero-argument train step (None when not installed), all starting from
    the weights of one `make()`."""
    graphc.manual_seed(0)
    ref = make()
    init = {k: np.array(v.numpy()) for k, v in ref.state_dict().items()}
    out = {}
    for backend in ("llvm", "interpreter") if interpreter else ("llvm",):
        model = make()
        model.load_state_dict({k: graphc.tensor(a) for k, a in init.items()})
        opt = optim.Adam(model.parameters(), lr=1e-3)
        c = graphc.compile(_train_step(model, opt, crit), backend=backend)
        out[f"graphc {backend}"] = (lambda c=c: c(x, y))
    if frameworks:
        try:
            import torch
            out["pytorch eager"] = _torch_adam_step(torch_module(torch), torch_loss(torch),
                                                    init, x, y)
        except ImportError:
            out["pytorch eager"] = None
        out["jax jit"] = _jax_adam_step(jax_forward, jax_loss, init, x, y)
    return out


def catsplit_contenders(batch: int = 64, frameworks: bool = True, interpreter: bool = True):
    """SplitNet's Adam train step with cross_entropy, per contender."""
    x, y = _data(batch, 784, 10)

    def torch_module(torch):
        class T(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fa = torch.nn.Linear(784, 256), torch.nn.Linear(128, 128)
                self.fb, self.fc2 = torch.nn.Linear(128, 128), torch.nn.Linear(256, 10)

            def forward(self, x):
                a, b = torch.relu(self.fc1(x)).split(128, dim=1)
                return self.fc2(torch.cat([torch.relu(self.fa(a)), torch.tanh(self.fb(b))], 1))
        return T()
    return _contenders(SplitNet, nn.CrossEntropyLoss(), torch_module,
                       lambda torch: torch.nn.CrossEntropyLoss(), _split_forward, _jax_xent,
                       x, y, frameworks, interpreter)


def lm_data(tokens: int, d: int, vocab: int, ignored: float = 0.125, seed: int = 0):
    """Hidden states (tokens, d) and next-token targets, a fraction `ignored` of them -100."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, d)).astype(np.float32)
    y = rng.integers(0, vocab, tokens).astype(np.int64)
    y[rng.random(tokens) < ignored] = -100
    return x, y


def xent_contenders(vocab: int, tokens: int, d: int, frameworks: bool = True,
                    interpreter: bool = True):
    """LMHead's Adam train step with cross_entropy(ignore_index=-100), per contender."""
    x, y = lm_data(tokens, d, vocab)

    def torch_module(torch):
        class T(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc, self.head = torch.nn.Linear(d, d), torch.nn.Linear(d, vocab)

            def forward(self, x):
                return self.head(torch.relu(self.fc(x)))
        return T()
    return _contenders(lambda: LMHead(d, vocab), nn.CrossEntropyLoss(ignore_index=-100), torch_module,
                       lambda torch: torch.nn.CrossEntropyLoss(ignore_index=-100), _lm_forward,
                       _jax_masked_xent, x, y, frameworks, interpreter)


def qrnn_contenders(kind: str, frameworks: bool) -> dict:
    """Dynamic int8 LSTM/GRU inference (graphc/cli/bench_qrnn.py): `graphc llvm` is graphc's
    int8 model compiled, beside torch's quantize_dynamic model and both fp32 models."""
    try:
        import torch  # noqa: F401  (the weights come from torch's initialisation)
    except ImportError:
        return {"graphc llvm": None}
    fns, _, _ = bench_qrnn.contenders(kind=kind)
    out = {"graphc llvm": fns["graphc int8"], "graphc llvm fp32": fns["graphc fp32"]}
    if frameworks:
        out.update({"pytorch int8": fns["torch int8"], "pytorch eager fp32": fns["torch fp32"]})
    return out


def bench_steps(report: Report, name: str, contenders: dict, repeat: int) -> None:
    """Time each contender's step (compile figures for graphc llvm: its first two calls)."""
    results = {}
    for who, fn in contenders.items():
        if fn is None:
            results[who] = None
            continue
        t0 = time.perf_counter()
        fn()
        fn()
        if who in ("graphc llvm", "torch.compile"):
            key = "first two calls (trace + compile) s"
            report.compile.setdefault(name, {})[key if who == "graphc llvm" else
                                                f"{who}: {key}"] = round(time.perf_counter() - t0, 3)
        results[who] = timeit(fn, repeat)
    _add(report, name, results)


def bench_infer(report: Report, sizes, batch: int, repeat: int, frameworks: bool,
                int8: bool = False):
    """Time MLP inference (fp32 or int8): graphc's backends, NumPy and installed frameworks."""
    name = f"infer {'int8' if int8 else 'fp32'} {'-'.join(map(str, sizes))} b{batch}"
    x, _ = _data(batch, sizes[0], sizes[-1])
    graphc.manual_seed(0)
    net = Net(sizes).eval()
    model = net
    if int8:
        from graphc import quantization
        model = quantization.quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    results = {}
    for backend in ("llvm", "interpreter"):
        c = graphc.compile(model, backend=backend)
        c(x)
        results[f"graphc {backend}"] = timeit(lambda: c(x), repeat)
    if int8:  # graphc's own fp32 at the same batch, for the int8-vs-fp32 ratio
        c32 = graphc.compile(net, backend="llvm")
        c32(x)
        results["graphc llvm fp32"] = timeit(lambda: c32(x), repeat)
    ws = [(np.array(p.weight.numpy()), np.array(p.bias.numpy())) for p in net.layers]
    if not int8:
        results["numpy (hand-written)"] = timeit(lambda: _numpy_mlp(ws, x), repeat)
    if frameworks:
        results.update(_framework_infer(ws, x, repeat, int8))
    _add(report, name, results)


def _framework_infer(ws, x, repeat, int8=False):
    out = {}
    try:
        import torch
        layers = []
        for i, (w, b) in enumerate(ws):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data, lin.bias.data = torch.from_numpy(w.copy()), torch.from_numpy(b.copy())
            layers.append(lin)
            if i < len(ws) - 1:
                layers.append(torch.nn.ReLU())
        tnet = torch.nn.Sequential(*layers).eval()
        if int8:
            tnet = torch.ao.quantization.quantize_dynamic(tnet, {torch.nn.Linear},
                                                          dtype=torch.qint8)
        tx = torch.from_numpy(x)
        with torch.inference_mode():
            out["pytorch eager" + (" int8" if int8 else "")] = timeit(lambda: tnet(tx), repeat)
    except ImportError:
        out["pytorch eager"] = None
    if not int8:
        try:
            import jax
            import jax.numpy as jnp

            @jax.jit
            def f(params, x):
                for i, (w, b) in enumerate(params):
                    x = x @ w.T + b
                    if i < len(params) - 1:
                        x = jnp.maximum(x, 0)
                return x
            params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in ws]
            jx = jnp.asarray(x)
            out["jax jit"] = timeit(lambda: f(params, jx).block_until_ready(), repeat)
        except ImportError:
            out["jax jit"] = None
    out["onnxruntime" + (" int8" if int8 else "")] = _onnx(ws, x, repeat, int8)
    return out


def _onnx(ws, x, repeat, int8):
    """The MLP as an ONNX graph (built with onnx.helper), run by ONNX Runtime on the CPU."""
    try:
        import tempfile
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    nodes, inits, cur = [], [], "x"
    for i, (w, b) in enumerate(ws):
        inits += [numpy_helper.from_array(np.ascontiguousarray(w.T), f"w{i}"),
                  numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]))
        cur = f"a{i}"
        if i < len(ws) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    graph = helper.make_graph(nodes, "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [None, x.shape[1]])],
                              [helper.make_tensor_value_info(cur, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        onnx.save(model, path)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            qpath = os.path.join(d, "q.onnx")
            quantize_dynamic(path, qpath, weight_type=QuantType.QInt8)
            path = qpath
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        return timeit(lambda: sess.run(None, {"x": x}), repeat)


def bench_sgemm(report: Report, n: int, repeat: int, frameworks: bool):
    """Time an n x n float32 matmul: graphc's backends, NumPy, PyTorch and JAX."""
    name = f"sgemm {n}"
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    results = {}
    for backend in ("llvm", "interpreter"):
        c = graphc.compile(lambda p, q: graphc.matmul(p, q), backend=backend)
        c(a, b)
        results[f"graphc {backend}"] = timeit(lambda: c(a, b), repeat)
    results["numpy (OpenBLAS)"] = timeit(lambda: a @ b, repeat)
    if frameworks:
        try:
            import torch
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            results["pytorch eager"] = timeit(lambda: ta @ tb, repeat)
        except ImportError:
            results["pytorch eager"] = None
        try:
            import jax
            import jax.numpy as jnp
            f = jax.jit(jnp.matmul)
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            results["jax jit"] = timeit(lambda: f(ja, jb).block_until_ready(), repeat)
        except ImportError:
            results["jax jit"] = None
    _add(report, name, results)


def _add(report: Report, workload: str, results: dict):
    for contender, r in results.items():
        if r is None:
            report.results.append(Result(workload, contender, None, note="not installed"))
        else:
            best, med = r
            report.results.append(Result(workload, contender, best * 1e6, med * 1e6,
                                         (med - best) / best))


def table(report: Report) -> str:
    """The report as a text table, each time also relative to graphc llvm."""
    lines = [f"machine: {report.machine}", ""]
    by = {}
    for r in report.results:
        by.setdefault(r.workload, []).append(r)
    lines.append(f"{'workload':24s} {'contender':24s} {'best µs':>11s} {'spread':>7s} "
                 f"{'vs graphc llvm':>15s}")
    for w, rs in by.items():
        ref = next((r.best_us for r in rs if r.contender == "graphc llvm"), None)
        for r in rs:
            if r.best_us is None:
                lines.append(f"{w:24s} {r.contender:24s} {'-':>11s} {'':>7s} {r.note:>15s}")
                continue
            ratio = f"{r.best_us / ref:.2f}x" if ref else ""
            lines.append(f"{w:24s} {r.contender:24s} {r.best_us:11.1f} {100 * r.spread:6.0f}% "
                         f"{ratio:>15s}")
        lines.append("")
    lines.append("ratio = contender time / graphc llvm time (above 1: graphc is faster)")
    if report.compile:
        lines.append("")
        for w, c in report.compile.items():
            lines.append(f"compile {w}: {c}")
    return "\n".join(lines)


def run(quick: bool = False, frameworks: bool = True, only: str | None = None) -> Report:
    """Run the workloads (all, or those whose name contains `only`) and return the Report."""
    report = Report(machine())
    repeat = 3 if quick else 7
    jobs = [
        ("train", lambda: [bench_train(report, (784, 128, 10), b, repeat, frameworks)
                           for b in ((64,) if quick else (1, 64, 256))]),
        ("infer", lambda: [bench_infer(report, (784, 128, 10), b, repeat, frameworks)
                           for b in ((1, 64) if quick else (1, 64, 1024))]),
        ("int8", lambda: [bench_infer(report, (784, 128, 10), b, repeat, frameworks, int8=True)
                          for b in ((1, 64) if quick else (1, 64, 1024))]),
        ("deep", lambda: None if quick else
         bench_train(report, (784, 1024, 1024, 10), 64, repeat, frameworks)),
        ("sgemm", lambda: [bench_sgemm(report, n, repeat, frameworks)
                           for n in ((256,) if quick else (256, 512, 1024))]),
        ("catsplit", lambda: bench_steps(report, "train cat+split b64",
                                         catsplit_contenders(64, frameworks), repeat)),
        ("xent", lambda: [bench_steps(report, f"train xent V{v} ignore",
                                      xent_contenders(v, t, d, frameworks), repeat)
                          for v, t, d in ((65, 256, 128),) + (() if quick else
                                                              ((50_000, 128, 64),))]),
        ("cnn", lambda: [bench_steps(report, f"train {bench_cnn.TITLE[k]} b{bench_cnn.BATCH[k]}",
                                     bench_cnn.train_contenders(k, frameworks=frameworks,
                                                                torch_compile=not quick), repeat)
                         for k in bench_cnn.MODELS]),
        ("cnn-eval", lambda: [bench_steps(report, f"infer MNIST CNN b{b}",
                                          bench_cnn.infer_contenders("mnist", b,
                                                                     frameworks=frameworks,
                                                                     torch_compile=not quick),
                                          repeat) for b in (1, 64)]),
        ("seq", lambda: [bench_steps(report, f"train {bench_seq.TITLE[k]} b{bench_seq.BATCH[k]}",
                                     bench_seq.train_contenders(k, frameworks=frameworks,
                                                                torch_compile=not quick), repeat)
                         for k in bench_seq.MODELS]),
        ("qat", lambda: bench_steps(report, f"train QAT MNIST CNN b{bench_quant.BATCH}",
                                    bench_quant.train_contenders(frameworks), repeat)),
        ("qrnn", lambda: [bench_steps(report, f"infer int8 {k} T50 b32",
                                      qrnn_contenders(k, frameworks), repeat)
                          for k in ("LSTM", "GRU")]),
        ("qstatic", lambda: [bench_steps(report, f"infer int8 MNIST CNN b{b}",
                                         bench_quant.infer_contenders(b, frameworks), repeat)
                             for b in (1, 64)]),
    ]
    for name, job in jobs:
        if only and only not in name:
            continue
        job()
    return report


def plot(report: Report, path: str) -> None:
    """Save a bar chart (log scale) of the best times per workload and contender to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    by = {}
    for r in report.results:
        if r.best_us is not None:
            by.setdefault(r.workload, {})[r.contender] = r.best_us
    names = list(by)
    contenders = sorted({c for d in by.values() for c in d})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    width = 0.8 / max(len(contenders), 1)
    for i, c in enumerate(contenders):
        vals = [by[w].get(c, np.nan) for w in names]
        ax.bar(np.arange(len(names)) + i * width, vals, width, label=c)
    ax.set_yscale("log")
    ax.set_ylabel("µs per call (best of N, log scale)")
    ax.set_xticks(np.arange(len(names)) + 0.4)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(ns) -> int:
    """Run the benchmark, print the table, optionally write JSON and a plot; returns 0."""
    report = run(quick=ns.quick, frameworks=not ns.no_frameworks, only=ns.only)
    print(table(report))
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump({"machine": report.machine, "compile": report.compile,
                       "results": [asdict(r) for r in report.results]}, f, indent=2)
    if ns.plot:
        plot(report, ns.plot)
    return 0
