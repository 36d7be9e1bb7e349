"""The categories' own calibrations stored on a registered model version, as version tags.

A registered calibration is ONE version tag per category, ``calibration.<category>``, holding
the whole verdict document as JSON, so concurrent registrations never leave a half-written
set of tags: each tag write is one transaction of the MLflow store, and the last one wins.
`register_category_verdict` writes one (`filo calibrate --register`, made by
`filo.registry.calibration.calibrate_category`); `RegistryCalibrations` reads them for predict,
the app and the served pyfunc model at every prediction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from filo.errors import FiloError
from filo.evaluation.verdict import Verdict, verdict_from_document

logger = logging.getLogger(__name__)

CATEGORY_TAG_PREFIX = "calibration."
"""Version tag ``calibration.<raw category>``: that category's calibrated verdict document, as JSON."""


def category_tag(category: str) -> str:
    """The version tag holding the calibrated verdict of raw `category`."""
    return f"{CATEGORY_TAG_PREFIX}{category}"


def register_category_verdict(verdict: Verdict) -> tuple[str, str]:
    """Store a `filo.registry.calibration.calibrate_category` verdict on the model version it was made with;
    (name, version).

    One tag (``calibration.<category>``) holds the whole verdict, so concurrent registrations
    are each recorded completely (the later one wins) or refused with FiloError.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from filo.tracking import tracking_uri

    model = (verdict.calibrated_on or {}).get("model", {})
    if verdict.category is None or not model.get("version"):
        raise FiloError(
            "--register stores a calibration on a registered model version: calibrate with --model "
            f"models:/NAME@ALIAS or models:/NAME/VERSION (this one used {model.get('reference')!r})"
        )
    uri = tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.set_model_version_tag(model["name"], model["version"], category_tag(verdict.category),
                                     json.dumps(verdict.to_dict(), sort_keys=True))
    except MlflowException as error:
        raise FiloError(
            f"could not record the calibration of {verdict.category} on {model['name']} version {model['version']} "
            f"in {uri} ({error.message}); nothing was changed there, run `filo calibrate --register` again"
        ) from error
    return model["name"], model["version"]


def category_verdicts(tags: Mapping[str, str], where: str) -> dict[str, Verdict]:
    """Raw category -> calibrated verdict, from a model version's tags; a malformed tag is skipped with a warning."""
    verdicts = {}
    for key, value in tags.items():
        if not key.startswith(CATEGORY_TAG_PREFIX):
            continue
        hint = "re-run `filo calibrate --register` for that category"
        try:
            verdict = verdict_from_document(json.loads(value), f"tag {key} of {where}", hint)
        except (json.JSONDecodeError, FiloError) as error:
            logger.warning("ignoring calibration tag %s of %s: %s", key, where, error)
            continue
        verdicts[key[len(CATEGORY_TAG_PREFIX):]] = verdict
    return verdicts


class RegistryCalibrations:
    """The categories' own calibrations registered on one model version, read afresh at every call."""

    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, str(version)

    def __call__(self) -> dict[str, Verdict]:
        """Raw category -> verdict from the version's tags (none, with a warning, if the store cannot be read)."""
        import mlflow
        from mlflow.exceptions import MlflowException

        from filo.tracking import tracking_uri

        uri = tracking_uri()
        try:
            version = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(
                self.name, self.version)
        except MlflowException as error:
            logger.warning("cannot read the calibrations of %s version %s from %s (%s); using the dataset "
                           "thresholds", self.name, self.version, uri, error.message)
            return {}
        return category_verdicts(version.tags, f"{self.name} version {self.version}")
