"""The ladder: plan a grid of training runs (spec), keep every result (registry), run it (runner)."""
