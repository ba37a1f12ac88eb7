"""Data layer: offline corpora, tokenizers, dedup, document splits, token shards and the loader.

Public entry points:

* :func:`scalelab.data.prepare.prepare` (``scalelab data prepare``): spec → data directory;
* :class:`scalelab.data.loader.TokenData` — the interface the trainer consumes (see ``loader.py``);
* :func:`scalelab.data.spec.load_spec` / :class:`scalelab.data.spec.DataSpec` — the TOML spec.

Modules import numpy only at import time; ``tokenizers``, ``datasketch``, ``pyarrow`` and
``datasets`` are imported when a step needs them.
"""

from scalelab.data.spec import DataSpec, load_spec  # noqa: F401
