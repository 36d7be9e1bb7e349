"""How a registered model version is addressed and stored: URI schemes, artifact names, lookup and download.

A registry URI is ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` (a registered version) or
``runs:/<id>/model`` (a logged model). A filo version is a pyfunc model (`filo.registry.pyfunc`)
whose artifacts are the bundle (`BUNDLE_ARTIFACT`) and, optionally, exports (`EXPORTS_ARTIFACT`).
The store is always `filo.tracking.tracking_uri()` (tracking and registry), never MLflow's global one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from filo.errors import FiloError
from filo.tracking import tracking_uri

MODELS_SCHEME = "models:/"
REGISTRY_SCHEMES = (MODELS_SCHEME, "runs:/")
BUNDLE_ARTIFACT = "bundle"
EXPORTS_ARTIFACT = "exports"
"""Optional artifact: `filo export` folders of some categories, served by onnxruntime
(`filo.registry.pyfunc.FiLoPyfuncModel.load_context`)."""


def registered_version(model_uri: str) -> tuple[str, str]:
    """(name, version number) of the version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI points at."""
    import mlflow  # heavy: only models:/ URIs need it
    from mlflow.exceptions import MlflowException  # heavy: only models:/ URIs need it

    uri = tracking_uri()
    try:
        version = _registered_version(mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri), model_uri)
    except MlflowException as error:
        raise FiloError(f"cannot find model {model_uri} in the MLflow store {uri} ({error.message}); register one "
                        "with `filo register` or set MLFLOW_TRACKING_URI to the right store") from error
    return version.name, str(version.version)


def _registered_version(client: Any, model_uri: str) -> Any:
    """The model version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI points at."""
    reference = model_uri[len(MODELS_SCHEME):]
    name, at, alias = reference.partition("@")
    if at:
        return client.get_model_version_by_alias(name, alias)
    name, slash, version = reference.rpartition("/")
    if not (slash and version.isdigit()):
        raise FiloError(f"model URI {model_uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    return client.get_model_version(name, version)


def download_bundle(model_uri: str, destination: str | os.PathLike) -> Path:
    """Download a registered pyfunc model into `destination` and return its bundle folder."""
    return download_model(model_uri, destination)[BUNDLE_ARTIFACT]


def download_model(model_uri: str, destination: str | os.PathLike) -> dict[str, Path]:
    """Download a registered pyfunc model into `destination`; its artifacts by name (the bundle, and the
    exports when the version carries some: `EXPORTS_ARTIFACT`)."""
    import mlflow  # heavy: only models:/ URIs need it
    from mlflow.exceptions import MlflowException  # heavy: only models:/ URIs need it
    from mlflow.models import Model  # heavy: only models:/ URIs need it

    uri = tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        if model_uri.startswith(MODELS_SCHEME):
            version = _registered_version(client, model_uri)
            source = client.get_model_version_download_uri(version.name, version.version)
        else:
            source = model_uri
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(destination), tracking_uri=uri, registry_uri=uri
        ))
    except MlflowException as error:
        raise FiloError(
            f"cannot load model {model_uri} from the MLflow store {uri} ({error.message}); "
            "register one with `filo register`, set MLFLOW_TRACKING_URI to the right store, "
            "or pass --model PATH to a checkpoint"
        ) from error
    artifacts = Model.load(str(local)).flavors.get("python_function", {}).get("artifacts", {})
    if BUNDLE_ARTIFACT not in artifacts:
        raise FiloError(f"{model_uri} is not a filo model (its pyfunc has no {BUNDLE_ARTIFACT!r} artifact)")
    return {name: local / artifact["path"] for name, artifact in artifacts.items()}
