"""Report and reproducibility: figures, a self-contained HTML report, the (Mis)Fitting checklist
and a sensitivity analysis (issue 7).

    >>> from scalelab.report import html, sensitivity, checklist
    >>> report = html.build("runs.csv", budget=1e23)          # doctest: +SKIP
    >>> report.write("report.html", figures_dir="figures")    # doctest: +SKIP

This layer may import the laws, runs and plan layers; nothing below imports it. matplotlib is
loaded only when a figure is drawn.
"""
