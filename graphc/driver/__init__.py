"""The compile driver: `graphc.compile` traces a Python function (tracing.py), records what it read
from Python as guarded state (guards.py), runs the pass pipeline and hands the planned graph to a
backend (compile.py).

Kept free of imports so that `graphc.tensor` can use `driver.tracing` without loading the rest.
"""
