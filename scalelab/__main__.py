"""``python -m scalelab``: the same command line as the ``scalelab`` script."""

from scalelab.cli import run

run()
