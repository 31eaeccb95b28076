"""graphc.nn.utils.rnn: pad_sequence as torch.nn.utils.rnn; packed sequences are not supported.

`pad_sequence` stacks variable-length sequences into one padded tensor (a composition of pad and
stack: eager, compiled, differentiable). `pack_padded_sequence`, `pack_sequence`,
`pad_packed_sequence` and `PackedSequence` raise NotSupportedError: graphc's recurrent layers take
the padded batch (mask the padded steps, or read each sequence's last valid output by index).
"""
from __future__ import annotations

from ... import functions as G
from ... import shape_ops as SO
from ...errors import NotSupportedError
from ...tensor import check

__all__ = ["pad_sequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "PackedSequence", "unpad_sequence"]


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right"):
    """(max_len, B, *) (or (B, max_len, *) with batch_first) from B tensors (len_i, *), padded
    with padding_value on the right (or the left), as torch.nn.utils.rnn.pad_sequence."""
    seqs = [G._t(s) for s in sequences]
    check(len(seqs) > 0, "pad_sequence: received an empty list of sequences")
    check(padding_side in ("left", "right"),
          f"Expected padding_side to be one of left or right, but got {padding_side}.")
    trailing = tuple(seqs[0].shape[1:])
    for s in seqs:
        check(s.ndim >= 1 and tuple(s.shape[1:]) == trailing,
              f"pad_sequence: every sequence needs the trailing shape {trailing}, got "
              f"{tuple(s.shape)}")
    longest = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        missing = longest - s.shape[0]
        if missing:
            fill = G.full((missing,) + trailing, padding_value, dtype=s.dtype)
            s = SO.cat([s, fill] if padding_side == "right" else [fill, s])
        rows.append(s)
    return SO.stack(rows, dim=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False):
    """The list of sequences pad_sequence padded, cut to `lengths` (known values)."""
    x = G._t(padded_sequences)
    x = x if batch_first else G.transpose(x, 0, 1)
    return [x[i, :int(n)] for i, n in enumerate(G._t(lengths).numpy().tolist())]


def _packed(name: str):
    def fn(*args, **kwargs):
        raise NotSupportedError(
            f"graphc.nn.utils.rnn.{name}: packed sequences are not supported; pass the padded "
            "batch from pad_sequence to the RNN/LSTM/GRU and mask the padded steps (or pick each "
            "sequence's last valid output by its length)")
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Not supported: raises NotSupportedError (torch.nn.utils.rnn.{name})."
    return fn


pack_padded_sequence = _packed("pack_padded_sequence")
pack_sequence = _packed("pack_sequence")
pad_packed_sequence = _packed("pad_packed_sequence")
PackedSequence = _packed("PackedSequence")
