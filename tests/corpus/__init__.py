# ruff: noqa: E501  (the original's long lines, kept as written)
"""Ports of public PyTorch programs for tests/test_corpus_surface.py (each takes `torch, compile`)."""
