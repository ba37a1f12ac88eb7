"""Data layer: offline corpora, tokenizers, dedup, document splits, token shards and the loader.

Public entry points:

* :func:`scalelab.data.prepare.prepare` (``scalelab data prepare``): spec → data directory;
* :class:`scalelab.data.loader.TokenData` — the interface the trainer consumes (see ``loader.py``);
* :func:`scalelab.data.spec.load_spec` / :class:`scalelab.data.spec.DataSpec` — the TOML spec;
  :func:`builtin_spec` (Shakespeare + Bible, Wikipedia OOD) and :func:`synthetic_spec` presets;
* :func:`scalelab.data.prepare.ensure_prepared` — prepare once, reuse while the spec is unchanged.

Modules import numpy only at import time; ``tokenizers``, ``datasketch``, ``pyarrow`` and
``datasets`` are imported when a step needs them.
"""

from scalelab.data.spec import DataSpec, builtin_spec, load_spec, synthetic_spec

__all__ = ["DataSpec", "builtin_spec", "load_spec", "synthetic_spec"]
