"""Planning: from a budget (FLOPs, devices x time, money) to a model, and back.

    >>> from scalelab.plan import budget, devices
    >>> b = budget.resolve(gpus=1000, days=30, device="H100", mfu=0.4)
    >>> f"{b.C:.3g}"
    '1.03e+24'

Layer 3: imports :mod:`scalelab.laws`, never the reverse.
"""

from scalelab.plan import budget, devices

__all__ = ["budget", "devices"]
