"""Report and reproducibility: figures, a self-contained HTML report, the (Mis)Fitting checklist
and a sensitivity analysis.

    >>> from scalelab.report import html, sensitivity, checklist
    >>> report = html.build("runs.csv", budget=1e23)          # doctest: +SKIP
    >>> report.write("report.html", figures_dir="figures")    # doctest: +SKIP

Modules: ``options`` (:class:`~scalelab.report.options.ReportOptions`), ``inputs`` (runs,
manifest, backtest rows, catalog), ``section`` (the typed ``Section`` and HTML helpers),
``page`` (every section declared once, ``REPORT``, the loop that builds them, the HTML page),
``sections`` and ``checks`` (one function per section), ``html`` (``build`` and ``Report``),
``figures``, ``figure_data`` and ``axes``, ``legibility`` (the figures' legibility check),
``checklist``, ``sensitivity``.

This layer may import the laws, runs, data, ladder and plan layers; nothing below imports it.
matplotlib is loaded only when a figure is drawn.
"""
