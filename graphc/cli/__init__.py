"""The `graphc` command line (`python -m graphc bench | bisect | dump`) and its benchmark harness.

Nothing in the library imports this package: it is the tool, not the compiler.
"""
