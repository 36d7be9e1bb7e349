"""Datasets: download and safe extraction, image/mask loading, Parquet manifests, indexing, synthetic data.

Public (`__all__`): the dataset registry, the data and index stages, manifests, the synthetic generator and
the torch dataset. They are imported on first use, so that importing one module of the package loads no other.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "AnomalyDataset",
    "DataSettings",
    "DatasetRegistry",
    "DatasetSpec",
    "IndexSettings",
    "generate_dataset",
    "index_manifest",
    "load_registry",
    "prepare_dataset",
    "read_manifest",
    "write_manifest",
]

_LAZY = {
    "DatasetRegistry": "filo.data.registry",
    "DatasetSpec": "filo.data.registry",
    "load_registry": "filo.data.registry",
    "DataSettings": "filo.data.stage",
    "IndexSettings": "filo.data.stage",
    "prepare_dataset": "filo.data.stage",
    "index_manifest": "filo.data.stage",
    "read_manifest": "filo.data.manifest",
    "write_manifest": "filo.data.manifest",
    "generate_dataset": "filo.data.synthetic",
    "AnomalyDataset": "filo.data.torch_dataset",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
