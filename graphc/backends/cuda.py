"""graphc.backends.cuda: torch's CUDA flags as plain attributes (graphc has no CUDA; setting
`graphc.backends.cuda.matmul.allow_tf32 = True` is accepted and changes nothing)."""


class _MatmulFlags:
    """torch.backends.cuda.matmul's settable flags."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    """False: graphc is built without CUDA."""
    return False
