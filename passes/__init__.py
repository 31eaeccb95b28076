"""Graph -> Graph transformations. `passes` imports `graphc.ir`; `graphc.ir` never imports `passes`."""
