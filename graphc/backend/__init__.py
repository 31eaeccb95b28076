"""Backends that execute graphs: the NumPy interpreter lives in graphc.interpreter; native code in llvm/."""
