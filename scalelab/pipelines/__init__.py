"""End-to-end flows over the layers below (ladder → laws → report): the demos.

* :mod:`~scalelab.pipelines.demo_ladder`: ``scalelab demo``, train a ladder on the built-in corpus,
  then fit, backtest, plan and report from its own runs;
* :mod:`~scalelab.pipelines.demo_published`: ``scalelab demo --published``, the fitting-only demo
  on bundled published runs.
"""
