"""The stage arguments of a pipeline run, read from the same `params.yaml` that DVC uses.

Sections and the keys read from them (a missing section or key takes the stage default):

- ``synth``: `generate_dataset` keywords (seed, image_size, n_train_good, n_test_good, n_test_per_defect).
- ``describe``: sources (comma-separated source order), user_file, cache_dir, and the
  `LLMSettings` fields (model, base_url, ...); the LLM is used only when ``model`` is set.
- ``boxes``: box_threshold, text_threshold, area_threshold, image_size, rule (the box
  rules), batch_size, device, and config + checkpoint of a real Grounding DINO (without
  them the tiny demo detector is made and used).
- ``train``: read by `filo.training.load_train_params` itself (model preset, seed, epochs, ...).
- ``evaluate``: `filo.evaluation.evaluate.EvaluationSettings` fields (the `filo evaluate` options).
- ``register``: name, experiment, gate_metrics (list or comma-separated), dvc_lock of `filo register`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filo.errors import FiloError

SECTIONS = ("synth", "describe", "boxes", "train", "evaluate", "register")
BOX_RULE_KEYS = ("box_threshold", "text_threshold", "area_threshold", "image_size", "rule")


@dataclass(frozen=True)
class PipelineParams:
    """The parsed sections of a params file (each a plain dict)."""

    path: Path
    sections: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: str | os.PathLike) -> PipelineParams:
        """Read `path`; FiloError naming the file when it is missing or a section is not a mapping."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FiloError(f"params file {path} does not exist; pass params_file= the pipeline's params.yaml")
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict):
            raise FiloError(f"params file {path} must hold a mapping of sections, found {type(document).__name__}")
        sections = {}
        for name in SECTIONS:
            section = document.get(name) or {}
            if not isinstance(section, dict):
                raise FiloError(f"params file {path}: section {name!r} must be a mapping, found {section!r}")
            sections[name] = dict(section)
        return cls(path, sections)

    def synth_options(self) -> dict[str, Any]:
        """Keywords of `generate_dataset` besides layout and output folder."""
        return dict(self.sections["synth"])

    def describe_options(self) -> dict[str, Any]:
        """Keywords of `filo.stages.describe.describe_manifest` besides manifest and output."""
        from filo.descriptions import LLMSettings

        section = dict(self.sections["describe"])
        options: dict[str, Any] = {}
        if "sources" in section:
            options["source_order"] = [name.strip() for name in str(section.pop("sources")).split(",")]
        for key in ("user_file", "cache_dir"):
            if key in section:
                options[key] = section.pop(key)
        known = {field.name for field in dataclasses.fields(LLMSettings)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise FiloError(f"params file {self.path}: unknown describe key(s) {unknown}; known: "
                            f"sources, user_file, cache_dir, {sorted(known)}")
        options["llm"] = LLMSettings(**section) if section.get("model") else None
        return options

    def box_rules(self) -> dict[str, Any]:
        """The `BoxRules` fields given in the boxes section."""
        return {key: value for key, value in self.sections["boxes"].items() if key in BOX_RULE_KEYS}

    def detector_files(self) -> tuple[Path, Path] | None:
        """(config, checkpoint) of a real Grounding DINO, or None to use the tiny demo detector."""
        section = self.sections["boxes"]
        if "config" in section and "checkpoint" in section:
            return Path(section["config"]), Path(section["checkpoint"])
        if "config" in section or "checkpoint" in section:
            raise FiloError(f"params file {self.path}: boxes needs both config and checkpoint, or neither")
        return None

    def register_options(self) -> dict[str, Any]:
        """Keywords of `filo.registry.registration.register_bundle` besides the directions and output."""
        from filo.registry.promotion import Gate

        section = dict(self.sections["register"])
        unknown = sorted(set(section) - {"name", "experiment", "gate_metrics", "dvc_lock"})
        if unknown:
            raise FiloError(f"params file {self.path}: unknown register key(s) {unknown}; "
                            "known: name, experiment, gate_metrics, dvc_lock")
        if "gate_metrics" in section:
            metrics = section.pop("gate_metrics")
            names = metrics.split(",") if isinstance(metrics, str) else metrics
            section["gate"] = Gate(tuple(str(name).strip() for name in names if str(name).strip()))
        return section
