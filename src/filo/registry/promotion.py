"""Champion/challenger promotion of registered versions, and the gate that decides it.

The gate value of a direction is the mean of the configured metrics (default: image and
pixel AUROC) of its mean-over-categories metrics on its target dataset. A new version
becomes `champion` only when it does not regress on any direction it shares with the
current champion and improves on at least one (or when there is no champion yet);
otherwise it becomes `challenger`. Directions only one of the two versions has are not
compared (a single-direction bundle is gated on that direction).

Each version carries its mean metrics as tags `metric.<direction>.<metric>`, so the
champion's gate value is recomputed with the gate in force, whatever gate it was promoted by.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from filo.errors import FiloError

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_GATE_METRICS = ("image_auroc", "pixel_auroc")
METRIC_TAG_PREFIX = "metric."
DECISION_TAG = "promotion.decision"
REASON_TAG = "promotion.reason"


@dataclass(frozen=True)
class Gate:
    """Which mean metrics make up a direction's gate value (their average)."""

    metrics: tuple[str, ...] = DEFAULT_GATE_METRICS

    def __post_init__(self) -> None:
        if not self.metrics:
            raise FiloError("the promotion gate needs at least one metric, e.g. image_auroc,pixel_auroc")

    def value(self, mean_metrics: Mapping[str, float | None], *, where: str) -> float:
        """The gate value of one direction's mean metrics; FiloError naming `where` if a metric is undefined."""
        values = []
        for key in self.metrics:
            value = mean_metrics.get(key)
            if value is None or not math.isfinite(float(value)):
                raise FiloError(
                    f"{where} has no defined {key!r} (found {value!r}; available: {sorted(mean_metrics)}); "
                    "choose gate metrics the evaluation computed, e.g. --gate-metrics image_auroc"
                )
            values.append(float(value))
        return sum(values) / len(values)


@dataclass(frozen=True)
class PromotionDecision:
    """The alias a new version gets and why."""

    alias: str
    reason: str
    gate_metrics: tuple[str, ...]
    values: dict[str, float]
    """Direction -> gate value of the new version."""
    champion_version: str | None
    champion_values: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def decide_promotion(
    values: Mapping[str, float],
    champion_values: Mapping[str, float] | None,
    *,
    gate: Gate,
    champion_version: str | None = None,
) -> PromotionDecision:
    """Apply the gate: champion when nothing shared regresses and something improves (or no champion)."""

    def decision(alias: str, reason: str) -> PromotionDecision:
        return PromotionDecision(alias, reason, gate.metrics, dict(values), champion_version,
                                 dict(champion_values) if champion_values is not None else None)

    if champion_values is None:
        return decision(CHAMPION, "no champion yet")
    shared = sorted(set(values) & set(champion_values))
    if not shared:
        return decision(
            CHALLENGER,
            f"no direction in common with champion v{champion_version} "
            f"(new: {sorted(values)}, champion: {sorted(champion_values)})",
        )

    def compare(direction: str, sign: str) -> str:
        return f"{direction} {values[direction]:.4f} {sign} {champion_values[direction]:.4f}"

    regressions = [compare(d, "<") for d in shared if values[d] < champion_values[d]]
    improvements = [compare(d, ">") for d in shared if values[d] > champion_values[d]]
    versus = f"champion v{champion_version}"
    if regressions:
        return decision(CHALLENGER, f"regresses versus {versus} on {'; '.join(regressions)}")
    if improvements:
        return decision(CHAMPION, f"improves on {versus}: {'; '.join(improvements)}; no direction regresses")
    return decision(CHALLENGER, f"ties {versus} on every shared direction ({', '.join(shared)})")


def metric_tags(direction_metrics: Mapping[str, Mapping[str, float | None]]) -> dict[str, str]:
    """Version tags `metric.<direction>.<metric>` of every defined mean metric."""
    return {
        f"{METRIC_TAG_PREFIX}{direction}.{key}": repr(float(value))
        for direction, metrics in direction_metrics.items()
        for key, value in metrics.items()
        if value is not None and math.isfinite(float(value))
    }


def metrics_from_tags(tags: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Inverse of `metric_tags`: direction -> metric -> value."""
    metrics: dict[str, dict[str, float]] = {}
    for tag, value in tags.items():
        if tag.startswith(METRIC_TAG_PREFIX):
            direction, _, key = tag[len(METRIC_TAG_PREFIX):].rpartition(".")
            metrics.setdefault(direction, {})[key] = float(value)
    return metrics


def current_champion(client: Any, name: str, gate: Gate) -> tuple[str, dict[str, float]] | None:
    """(version, direction -> gate value) of the current champion of `name`, or None when there is none.

    A champion direction whose tags lack a gate metric is left out of the comparison.
    """
    from mlflow.exceptions import MlflowException  # kept lazy: imported at CLI start-up

    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    values = {}
    for direction, metrics in metrics_from_tags(version.tags).items():
        try:
            values[direction] = gate.value(metrics, where=f"champion v{version.version} {direction}")
        except FiloError as error:
            logger.warning("not comparing %s: %s", direction, error)
    return str(version.version), values


def promote(client: Any, name: str, version: str, values: Mapping[str, float], *, gate: Gate) -> PromotionDecision:
    """Decide the alias of `version` against the current champion, move the alias and tag the decision."""
    champion = current_champion(client, name, gate)
    if champion is not None and champion[0] == str(version):
        raise FiloError(f"version {version} of {name!r} is already the champion")
    decision = decide_promotion(
        values,
        champion[1] if champion else None,
        gate=gate,
        champion_version=champion[0] if champion else None,
    )
    client.set_registered_model_alias(name, decision.alias, str(version))
    client.set_model_version_tag(name, str(version), DECISION_TAG, decision.alias)
    client.set_model_version_tag(name, str(version), REASON_TAG, decision.reason)
    logger.info("%s version %s -> %s: %s", name, version, decision.alias, decision.reason)
    return decision
