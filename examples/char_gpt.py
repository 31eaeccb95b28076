"""A character-level GPT trained on the Python standard library's own source, with graphc.

The model is the usual decoder-only transformer (nanoGPT's layout): token and position
embeddings, `--layers` pre-norm blocks of causal self-attention (F.scaled_dot_product_attention
with is_causal=True) and a GELU MLP, a final LayerNorm and a linear head; AdamW. The text is
every `.py` file of the running Python's standard library, read in a fixed order up to
`--chars` characters (no download), split 90 / 10 into train and validation. The whole training
step is one compiled native call; generation runs a compiled forward over a fixed window of
`--context` positions (the prompt left-aligned: causal attention never looks right of the
position read), sampling with `multinomial` from the softmax at `--temperature`, restricted to
the `--top-k` most likely characters.

    python examples/char_gpt.py                        # 4 layers, 4 heads, width 128, context 64
    python examples/char_gpt.py --steps 2000 --sample 500
    python examples/char_gpt.py --layers 2 --width 64 --steps 100    # a quick look
"""
from __future__ import annotations

import argparse
import os
import string
import sys
import time

import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import nn


def stdlib_text(chars: int) -> str:
    """Up to `chars` characters of the standard library's .py files (sorted paths), printable
    ASCII only (other characters dropped)."""
    root = os.path.dirname(os.__file__)
    keep = set(string.printable)
    parts, total = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "test", "tests",
                                                              "__pycache__", "idlelib"))
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    text = "".join(c for c in f.read() if c in keep)
            except (OSError, UnicodeDecodeError):
                continue
            parts.append(text)
            total += len(text)
            if total >= chars:
                return "".join(parts)[:chars]
    return "".join(parts)[:chars]


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, vocab)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(graphc.arange(T))
        return self.head(self.ln(self.blocks(x)))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--chars", type=int, default=1_000_000, help="characters of text to read")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--sample", type=int, default=300, help="characters to generate at the end")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--backend", default="llvm", help="llvm (native code) or interpreter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    text = stdlib_text(args.chars)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], np.int64)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    print(f"text: {len(text)} characters of the standard library ({len(chars)} distinct); "
          f"model: {args.layers} layers, {args.heads} heads, width {args.width}, context "
          f"{args.context}; backend={args.backend}")

    graphc.manual_seed(args.seed)
    model = GPT(len(chars), args.context, args.width, args.layers, args.heads)
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    opt = graphc.optim.AdamW(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)

    def batch(src):
        at = rng.integers(0, len(src) - args.context - 1, args.batch_size)
        x = np.stack([src[i:i + args.context] for i in at])
        return x, np.stack([src[i + 1:i + args.context + 1] for i in at])

    @graphc.compile(backend=args.backend)
    def train_step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        opt.step()
        return loss

    @graphc.compile(backend=args.backend)
    def eval_loss(x, y):
        logits = model(x)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))

    infer = graphc.compile(model, backend=args.backend)

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    steps = range(1, args.steps + 1)
    bar = tqdm(steps, desc="train", disable=args.quiet) if tqdm else steps
    curve, compile_s, train_s = [], None, 0.0
    for step in bar:
        xy = batch(train)
        t0 = time.perf_counter()
        loss = float(train_step(*xy))
        if step <= 2:          # traced twice: before and after the optimizer has state
            compile_s = (compile_s or 0.0) + time.perf_counter() - t0
        else:
            train_s += time.perf_counter() - t0
        if tqdm and not args.quiet:
            bar.set_postfix(loss=f"{loss:.3f}")
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            v = float(np.mean([float(eval_loss(*batch(val))) for _ in range(4)]))
            model.train()
            curve.append((step, loss, v))
            print(f"step {step:5d}  train loss {loss:.4f}  val loss {v:.4f}", file=sys.stdout)
    ms = 1e3 * train_s / max(1, args.steps - 2)
    print(f"training: {ms:.1f} ms/step (train steps only) after {compile_s:.1f} s for the first "
          "two (trace + compile)")

    model.eval()
    prompt = "def "
    idx = [stoi.get(c, 0) for c in prompt]
    gen = graphc.Generator().manual_seed(args.seed)
    for _ in range(args.sample):
        ctx = idx[-args.context:]
        window = np.zeros((1, args.context), np.int64)
        window[0, :len(ctx)] = ctx
        logits = infer(graphc.from_numpy(window))[0, len(ctx) - 1] / args.temperature
        top, where = graphc.topk(logits, min(args.top_k, logits.shape[-1]))
        pick = graphc.multinomial(F.softmax(top, dim=-1), 1, generator=gen)
        idx.append(int(where[pick]))
    sample = "".join(chars[i] for i in idx)
    print("sample:\n" + sample)
    return {"curve": curve, "ms_per_step": ms, "compile_s": compile_s, "sample": sample,
            "vocab": len(chars)}


if __name__ == "__main__":
    main()
