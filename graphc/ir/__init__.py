"""graphc's IR: typed SSA graphs, the op registry, printer, parser, verifier and exports.

This package never imports `passes` (passes build on the IR, not the other way round).
"""
from .graph import Graph, Node, TensorType, Value, tensor_type  # noqa: F401
from .ops import NONDIFF, OPS, Fusion, OpDef, Sample, fusion_of  # noqa: F401
from .builder import Builder  # noqa: F401
from .printer import print_graph  # noqa: F401
from .parser import parse  # noqa: F401
from .verifier import verify  # noqa: F401
from .export import to_dot, to_networkx  # noqa: F401
