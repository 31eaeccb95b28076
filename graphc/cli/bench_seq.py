"""The sequence-model workloads of `python -m graphc bench`: train steps of a character GPT and
of an LSTM classifier.

Each model is written once against PyTorch's API and built with `lib = graphc` and with
`lib = torch`, loaded with the same weights (the import swap a graphc user makes):

- `gpt`: a character GPT (vocab 65, 4 pre-norm layers of 4-head causal self-attention through
  F.scaled_dot_product_attention and a GELU MLP, width 128, context 64), cross_entropy, AdamW
  (lr 1e-3), batch 32: about 10.6 GFLOP per step.
- `lstm`: an LSTM classifier (Embedding(1000, 64), LSTM(64, 128) over 50 steps, the last
  output through Linear(128, 10)), cross_entropy, Adam (lr 1e-3), batch 32.

No JAX versions of these two are written (the rows have no JAX contender). Every step returns its loss, so
the tests check that the contenders compute the same thing.
"""
from __future__ import annotations

import numpy as np

import graphc

from .bench_cnn import twin_steps

MODELS = ("gpt", "lstm")
TITLE = {"gpt": "char GPT", "lstm": "LSTM classifier"}
BATCH = {"gpt": 32, "lstm": 32}
SEQ = {"gpt": 64, "lstm": 50}
VOCAB = {"gpt": 65, "lstm": 1000}


def build(kind: str, lib, layers: int = 4):
    """The `kind` network as a `lib.nn.Module` (lib: graphc or torch)."""
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self, width, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2)
                       for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self, vocab=65, context=64, width=128, heads=4):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
            self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, vocab)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1]))
            return self.head(self.ln(self.blocks(x)))

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 64)
            self.lstm = nn.LSTM(64, 128, batch_first=True)
            self.fc = nn.Linear(128, 10)

        def forward(self, idx):
            out, _ = self.lstm(self.emb(idx))
            return self.fc(out[:, -1])

    return {"gpt": GPT, "lstm": LSTMClassifier}[kind]()


def data(kind: str, batch: int | None = None, seq: int | None = None, seed: int = 0):
    """Random token ids (batch, seq) and targets (next tokens for the GPT, classes for the LSTM)."""
    rng = np.random.default_rng(seed)
    n, t = batch or BATCH[kind], seq or SEQ[kind]
    x = rng.integers(0, VOCAB[kind], (n, t)).astype(np.int64)
    y = rng.integers(0, VOCAB[kind], (n, t)) if kind == "gpt" else rng.integers(0, 10, n)
    return x, y.astype(np.int64)


def _step(kind: str, lib, model, opt):
    F = lib.nn.functional

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step


def _optimizer(kind: str, lib, params):
    return (lib.optim.AdamW if kind == "gpt" else lib.optim.Adam)(params, lr=1e-3)


def train_contenders(kind: str, batch: int | None = None, seq: int | None = None,
                     layers: int = 4, interpreter: bool = True, frameworks: bool = True,
                     torch_compile: bool = True) -> dict:
    """contender -> a zero-argument train step returning its loss (None: not installed)."""
    x, y = data(kind, batch, seq)
    graphc.manual_seed(0)
    init = {k: np.array(v.numpy()) for k, v in build(kind, graphc, layers).state_dict().items()}

    def make_step(lib, model, run):
        return _step(kind, lib, run, _optimizer(kind, lib, model.parameters()))
    return twin_steps(lambda lib: build(kind, lib, layers), make_step, init, x, y, interpreter,
                      frameworks, torch_compile, compile_step=True)
