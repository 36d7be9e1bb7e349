"""Datasets: download and safe extraction, image/mask loading, Parquet manifests, indexing, synthetic data."""
