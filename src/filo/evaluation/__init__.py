"""Evaluation of a FiLo model on a dataset's test split.

Modules: `scoring` (per-image scores and maps), `aggregate` (metrics per category and their
mean), `verdict` (image threshold + confusion matrix, `verdict.json`), `report` (the metrics.json
summary, the detailed metrics, tables), `curves`/`plots`/`gallery` (figures), `outputs` (the output folder), `mlflow_log`,
`zero_shot` (protocol check) and `evaluate` (the stage function behind `filo evaluate`).
"""
