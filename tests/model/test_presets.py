"""Model presets are data files read by one function, and `filo.create_model` builds a model from one."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys

import pytest
import torch
from filo.pipelines.imports import all_modules, module_file

import filo
from filo.errors import FiloError
from filo.model.config import PRESETS, FiLoConfig, preset_config
from filo.presets import preset_names

SWITCHES = {  # the fields every preset leaves at the authors' behaviour
    "clip_weights_tag": None, "clip_seed": 0, "resize_mode": "squash", "taps": "authors", "n_ctx": 12,
    "conditioning": "per_image", "adapter_residual": True, "smoothing_kernel": 3, "smoothing_sigma": 4.0,
    "box_lambda": 0.7, "top_k_descriptions": 3, "fold_mmci": True, "optimized_text": True, "provenance": None,
}
VALUES_BEFORE_PRESET_FILES = {  # FiLoConfig() and FiLoConfig.tiny() as the code spelled them
    "paper": {"clip_name": "ViT-L-14-336", "clip_pretrained": "openai", "image_size": 518,
              "qkv_layers": [6, 12, 18, 24], "vv_layers": [12, 18, 24], "vv_start": 7, **SWITCHES},
    "tiny": {"clip_name": "filo-tiny", "clip_pretrained": None, "image_size": 64,
             "qkv_layers": [1, 2, 3, 4], "vv_layers": [2, 3, 4], "vv_start": 2, **SWITCHES},
}


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_file_holds_the_config_it_always_had_and_round_trips(preset):
    config = preset_config(preset)
    assert config.to_dict() == VALUES_BEFORE_PRESET_FILES[preset]
    assert FiLoConfig.from_dict(config.to_dict()) == config


def test_the_preset_files_are_exactly_the_named_presets():
    assert preset_names() == sorted(PRESETS)


def test_overrides_apply_and_unknown_presets_or_fields_are_named():
    assert preset_config("paper", {"taps": "paper"}) == dataclasses.replace(preset_config("paper"), taps="paper")
    with pytest.raises(FiloError, match=r"unknown model preset 'huge'; choose one of \['paper', 'tiny'\]"):
        preset_config("huge")
    with pytest.raises(FiloError, match=r"unknown FiLo config keys \['n_ctxx'\] in preset 'tiny'"):
        preset_config("tiny", {"n_ctxx": 4})
    with pytest.raises(FiloError, match=r"FiLoConfig.taps must be one of \['authors', 'paper'\], got 'true'"):
        preset_config("tiny", {"taps": "true"})


def test_a_config_without_its_architecture_is_refused_by_name():
    values = preset_config("tiny").to_dict()
    del values["vv_start"]
    with pytest.raises(FiloError, match=r"lacks the architecture keys \['vv_start'\]"):
        FiLoConfig.from_dict(values)


def test_create_model_builds_the_tiny_preset_in_eval_mode_with_overrides():
    model = filo.create_model("tiny", n_ctx=4, taps="paper")
    assert not model.training
    assert (model.config.n_ctx, model.config.taps) == (4, "paper")
    assert dataclasses.replace(model.config, n_ctx=12, taps="authors") == preset_config("tiny")
    state = torch.random.get_rng_state()
    again = filo.create_model("tiny", n_ctx=4, taps="paper")
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded apart from the global generator
    for (name, first), (_, second) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(first, second), name
    with pytest.raises(FiloError, match=r"choose one of \['paper', 'tiny'\]"):
        filo.create_model("huge")


def test_import_filo_loads_no_model_code():
    code = "import sys, filo; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('filo.model')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_filo_code_imports_the_factory_not_the_lazy_top_level_name():
    """DVC's code deps read import statements: `filo.create_model` (loaded by string) would hide src/filo/model."""
    users = []
    for module in all_modules():
        tree = ast.parse(module_file(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imported = isinstance(node, ast.ImportFrom) and node.module == "filo" and any(
                alias.name == "create_model" for alias in node.names)
            used = (isinstance(node, ast.Attribute) and node.attr == "create_model"
                    and isinstance(node.value, ast.Name) and node.value.id == "filo")
            if imported or used:
                users.append(module)
    assert users == []
