"""The preflight's checks live with their packages: its DVC code deps leave out model and training code,
the CLIP check reads the training preset as data, and the describe stage's LLM is checked before a run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from filo.pipelines.dag import PROFILES, dvc_yaml_text

from filo.clip.preflight import DEFAULT_MODEL_PRESET, preset_clip
from filo.descriptions.llm import API_KEY_ENV
from filo.doctor import DoctorSettings, exit_code, run_doctor
from filo.model.config import PRESETS, preset_config
from filo.training.params import TrainParams

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_preflight_stage_reruns_on_no_model_or_training_code(profile):
    stage = yaml.safe_load(dvc_yaml_text(REPO / profile / "params.yaml"))["stages"]["preflight"]
    deps = [dep.replace("${code_root}/", "") for dep in stage["deps"]]
    assert not [dep for dep in deps if dep.startswith(("src/filo/model", "src/filo/training"))]
    assert {"src/filo/doctor.py", "src/filo/data", "src/filo/boxes", "src/filo/descriptions", "src/filo/clip"} <= set(deps)
    # what the CLIP check reads instead: the preset files (filo.presets) and the preset keys of the params
    assert "src/filo/presets" in deps and "train.model_preset" in stage["params"]
    assert not [key for key in stage["params"] if key.startswith("train.") and "model_" not in key]


@pytest.mark.parametrize("preset", PRESETS)
def test_the_clip_check_reads_the_presets_the_model_is_built_from(preset):
    overrides = {"clip_pretrained": "models/clip.pt", "clip_weights_tag": "openai"}
    for given in ({}, overrides):
        config = preset_config(preset, given)
        assert preset_clip(preset, given) == {key: getattr(config, key) for key in
                                              ("clip_name", "clip_pretrained", "clip_weights_tag", "image_size")}
    assert TrainParams().model_preset == DEFAULT_MODEL_PRESET


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def llm_profile(tmp_path, monkeypatch):
    """A demo profile whose describe order asks an LLM; returns a writer taking the LLM's base URL and order."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("filo.doctor.cuda_status", lambda: None)

    def write(base_url: str, sources: list[str] | None = None) -> Path:
        params["describe"] = {"sources": sources or ["user", "cache", "llm", "defaults", "generic"],
                              "llm": {"model": "local-model", "base_url": base_url}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return tmp_path / "params.yaml"

    return write


def _llm_findings(params: Path) -> tuple[dict, int]:
    findings = run_doctor(params, DoctorSettings(allow_cpu=True, headroom_gib=0.0, url_timeout_s=5.0))
    return {f.check: f for f in findings if f.check.startswith("describe")}, exit_code(findings)


def test_an_answering_llm_with_its_key_passes(llm_profile, http_server, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "sk-test")
    http_server.add("v1/models", b'{"object": "list", "data": [{"id": "local-model"}]}')
    checks, code = _llm_findings(llm_profile(http_server.base_url + "/v1"))
    assert checks["describe LLM key"].ok and checks["describe LLM endpoint"].ok and code == 0
    assert [path for path, _ in http_server.requests] == ["/v1/models"]


def test_an_llm_without_its_key_blocks_and_names_the_variable(llm_profile, http_server, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    checks, code = _llm_findings(llm_profile(http_server.base_url + "/v1"))  # the server is up, no /models: 404
    key = checks["describe LLM key"]
    assert not key.ok and key.blocking and code == 1
    assert API_KEY_ENV in key.detail and f"export {API_KEY_ENV}=" in key.fix
    assert "remove 'llm' from describe.sources (then: user, cache, defaults, generic)" in key.fix
    assert checks["describe LLM endpoint"].ok  # any HTTP answer means the server is there


def test_an_unreachable_llm_blocks_with_the_fix(llm_profile, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "sk-test")
    checks, code = _llm_findings(llm_profile(f"http://127.0.0.1:{_free_port()}/v1"))
    endpoint = checks["describe LLM endpoint"]
    assert not endpoint.ok and endpoint.blocking and code == 1
    assert "does not answer" in endpoint.detail and "describe.llm.base_url" in endpoint.fix


def test_an_llm_after_generic_is_never_asked_so_its_problems_only_warn(llm_profile, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    checks, code = _llm_findings(llm_profile(f"http://127.0.0.1:{_free_port()}/v1",
                                             ["user", "generic", "llm"]))
    assert not checks["describe LLM key"].ok and not checks["describe LLM endpoint"].ok
    assert not checks["describe LLM key"].blocking and not checks["describe LLM endpoint"].blocking and code == 0


def test_no_llm_in_the_order_means_nothing_to_check(llm_profile, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    checks, code = _llm_findings(llm_profile(f"http://127.0.0.1:{_free_port()}/v1", ["user", "defaults", "generic"]))
    assert checks == {} and code == 0


def test_the_owners_checks_cost_their_stages_no_dependency_on_the_preflight_module():
    """A check module imports the shared context for its type only: the package's own stages never run it."""
    from filo.pipelines.imports import direct_imports, module_closure, repository_paths

    for owner in ("filo.data.preflight", "filo.boxes.preflight", "filo.descriptions.preflight", "filo.clip.preflight"):
        assert "filo.preflight" in direct_imports(owner, type_checking=True)  # the layers see the type
        assert "filo.preflight" not in direct_imports(owner)
    assert "src/filo/preflight.py" not in repository_paths(module_closure(["filo.cli", "filo.stages.boxes"]))
    assert "src/filo/preflight.py" in repository_paths(module_closure(["filo.cli", "filo.stages.doctor"]))


def test_an_llm_refusing_the_key_blocks(llm_profile, http_server, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "sk-revoked")
    http_server.refuse("v1/models", 401)
    checks, code = _llm_findings(llm_profile(http_server.base_url + "/v1"))
    endpoint = checks["describe LLM endpoint"]
    assert not endpoint.ok and endpoint.blocking and code == 1
    assert "refuses the key" in endpoint.detail and "sk-revoked" not in endpoint.detail + endpoint.fix
