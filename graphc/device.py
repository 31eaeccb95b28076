"""graphc.device: where tensors live. graphc runs on the CPU; "cuda" (and "mps") make device
objects, as torch.device does, so `device = "cuda" if graphc.cuda.is_available() else "cpu"` code
works, but putting a tensor or a module on one raises a GraphcError that says so."""
from __future__ import annotations

from .errors import GraphcError

_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hpu", "mtia", "privateuseone")


class DeviceError(GraphcError, RuntimeError):
    """A tensor or module was sent to a device graphc does not have (only the CPU)."""


class device:  # noqa: N801  (torch.device's spelling)
    """A device as torch.device: `device("cpu")`, `device("cuda", 0)`, `device("cuda:0")`.

    Compares equal to another device of the same type and index and to its string ("cpu")."""

    __slots__ = ("type", "index")

    def __init__(self, type, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # torch.device(0) is cuda:0
        if not isinstance(type, str):
            raise GraphcError(f"device() needs a string such as 'cpu', got {type!r}")
        name = type
        if ":" in name:
            name, _, idx = name.partition(":")
            if index is not None or not idx.isdigit():
                raise GraphcError(f"Invalid device string: {type!r}")
            index = int(idx)
        if name not in _KNOWN:
            raise GraphcError(f"Expected one of {', '.join(_KNOWN)} device type at start of device "
                              f"string: {type!r}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise GraphcError(f"Device index must not be negative, got {index!r}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("graphc.device is immutable")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except GraphcError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    # `with graphc.device("cpu"):` is accepted, as torch's default-device context manager
    def __enter__(self):
        check_device(self)
        return self

    def __exit__(self, *exc) -> None:
        return None


CPU = device("cpu")


def check_device(dev) -> device:
    """`dev` (None, a string, an int or a device) as a device, which must be the CPU: any other
    device raises a DeviceError naming it."""
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise DeviceError(f"device {str(d)!r} is not available: graphc runs on the CPU only "
                          f"(graphc.cuda.is_available() is False); use device='cpu'")
    return CPU
