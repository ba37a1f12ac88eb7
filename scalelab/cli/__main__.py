"""``python -m scalelab.cli`` (torchrun starts training this way)."""

from scalelab.cli import run

run()
