"""graphc.backends: torch.backends' flags and queries. graphc runs on the CPU only: there is no
CUDA, cuDNN or MPS; the flags programs set (`graphc.backends.cudnn.deterministic = True`,
`graphc.backends.cuda.matmul.allow_tf32 = True`) are accepted and change nothing (graphc's
results are deterministic whatever they say). Each namespace is a class, as torch's are modules.
"""
from __future__ import annotations


class cuda:  # noqa: N801  (torch's name)
    """torch.backends.cuda: no CUDA in graphc."""

    class matmul:  # noqa: N801
        """torch.backends.cuda.matmul's settable flags."""

        allow_tf32 = False
        allow_fp16_reduced_precision_reduction = True
        allow_bf16_reduced_precision_reduction = True

    @staticmethod
    def is_built() -> bool:
        """False: graphc is built without CUDA."""
        return False


class cudnn:  # noqa: N801
    """torch.backends.cudnn: no cuDNN in graphc; its flags are kept as plain attributes."""

    enabled = True
    benchmark = False
    deterministic = False
    allow_tf32 = True

    @staticmethod
    def is_available() -> bool:
        """False: graphc has no cuDNN."""
        return False

    @staticmethod
    def version():
        """None: graphc has no cuDNN."""
        return None


class mps:  # noqa: N801
    """torch.backends.mps: Apple's Metal backend is not available in graphc."""

    @staticmethod
    def is_available() -> bool:
        """False: graphc runs on the CPU only."""
        return False

    @staticmethod
    def is_built() -> bool:
        """False: graphc has no MPS backend."""
        return False


class _QuantizedEngine(type):
    """Validates `graphc.backends.quantized.engine = name` as torch does (RuntimeError-like)."""

    def __setattr__(cls, name, value):
        if name == "engine" and value not in cls.supported_engines:
            from .errors import GraphcError
            raise GraphcError(f"quantized engine {value!r} is not supported; graphc supports "
                              f"{cls.supported_engines} (x86 is fbgemm's numbers)")
        super().__setattr__(name, value)


class quantized(metaclass=_QuantizedEngine):  # noqa: N801
    """torch.backends.quantized: the int8 engine whose numbers graphc reproduces. graphc
    implements x86 (fbgemm's) semantics; "fbgemm" names the same numbers, as in torch."""

    supported_engines = ["x86", "fbgemm"]
    engine = "x86"
