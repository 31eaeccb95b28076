"""Constants: a literal array in the graph."""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import Fusion, NONDIFF, register, require




def _constant_infer(types, attrs):
    require(not types, "constant takes no operands")
    v = attrs["value"]
    require(isinstance(v, np.ndarray), "constant value must be an ndarray")
    return tensor_type(v.shape, dtypes.from_numpy(v.dtype))


register("constant", "source", _constant_infer, lambda value: value.copy(), [
    ([], {"value": np.array(1.5, np.float32)}),
    ([], {"value": np.arange(6, dtype=np.int64).reshape(2, 3)}),
], NONDIFF,
         fusion=Fusion.SOURCE)
