"""Honesty harness: do a method's 95% loss intervals cover held-out runs of real and
misspecified ladders when fitting on the smaller runs and predicting larger ones?

``ladders`` (real public ladders), ``misspecified`` (simulated ladders whose truth is not
the fitted form), ``splits`` (fit-small / predict-large splits and extrapolation
distances), ``evaluate`` (predictors, today's tool as the baseline), ``run`` (the command line:
``python benchmarks/honesty/run.py``), ``report`` (Markdown, JSON).
"""
