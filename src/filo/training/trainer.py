"""`train`: phase 1 (prompt learners + heads) then phase 2 (adapter), resumable and reproducible.

Model rule: with `init` (a filo checkpoint) the run starts from that checkpoint's config
and weights and the params' `model_preset`/`model_overrides` are not used; without it the
config is `model_preset` + `model_overrides` and the trainable weights are initialized
from `seed`.

After every epoch the training state is written atomically to `<out>.train/last.pt`; the
final checkpoint `out` (written by `filo.model.checkpoint.save_checkpoint`) appears only
when both phases have finished, and the state folder is then removed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from filo.data.torch_dataset import AnomalyDataset
from filo.device import resolve_device
from filo.errors import FiloError
from filo.io import ensure_free_space, sha256_file
from filo.model.checkpoint import load_checkpoint, load_trainable_weights, read_payload, save_checkpoint
from filo.model.config import FiLoConfig, TrainingProvenance, preset_config
from filo.model.filo import FiLo
from filo.training.determinism import (
    capture_rng_state,
    restore_rng_state,
    seed_everything,
    use_deterministic_kernels,
)
from filo.training.inputs import TrainingInputs, check_no_overlap, load_training_inputs, resolve_aug_rate
from filo.training.loop import EpochSettings, run_epoch
from filo.training.params import TrainParams
from filo.training.phases import Phase, make_optimizer, train_only, trained_parameters, training_phases
from filo.training.recorder import TrainingRecorder
from filo.training.state import (
    TrainingState,
    load_training_state,
    save_training_state,
    training_disk_estimate,
    training_state_path,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the trained model went and how training went."""

    checkpoint: Path
    model: FiLo
    """The trained model, in eval mode on the training device (the same weights as `checkpoint`)."""
    history: list[dict[str, Any]]
    """One record per epoch: phase, epoch (1-based within the phase), loss (mean over batches)."""
    train_s: float
    """Wall-clock seconds of this invocation (a resumed run counts only its own part)."""
    mlflow_run_id: str | None


def _base_config(params: TrainParams, init: Path | None) -> FiLoConfig:
    """The untrained model's config: `init`'s when given, else the params' preset + overrides."""
    if init is None:
        return preset_config(params.model_preset, params.model_overrides)
    payload = read_payload(init)
    if payload.get("format") != "filo":
        raise FiloError(
            f"--init {init} is not a filo checkpoint (format 'filo'); start from one written by "
            "`filo model init` or an earlier `filo train`"
        )
    return FiLoConfig.from_dict(payload["config"])


def _resume_state(state_path: Path, fingerprint: dict[str, Any]) -> TrainingState | None:
    """The saved state to continue from, or None (with a warning) when there is none yet."""
    if not state_path.is_file():
        logger.warning("--resume: no training state at %s, training from the start", state_path)
        return None
    state = load_training_state(state_path, fingerprint)
    logger.info("resuming from %s: phase %s, %d epoch(s) done", state_path, state.phase, state.epochs_done)
    return state


def _starting_model(config: FiLoConfig, params: TrainParams, init: Path | None, inputs: TrainingInputs,
                    state: TrainingState | None, state_path: Path) -> FiLo:
    """The model training starts from, its categories prepared, global RNGs where the run left them.

    Fresh: `init`'s weights, or trainable weights drawn from `params.seed`. Resumed: the
    saved state's weights and RNG states.
    """
    seed_everything(params.seed)
    model = load_checkpoint(init) if init is not None else FiLo(config)
    for category in inputs.categories:
        model.prepare(category, inputs.descriptions[category].descriptions)
    if state is not None:
        load_trainable_weights(model, state.model, source=str(state_path))
        restore_rng_state(state.rng)
    return model


def _fingerprint(params: TrainParams, config: FiLoConfig, inputs: TrainingInputs, aug_rate: float,
                 init: Path | None) -> dict[str, Any]:
    """What must be unchanged for `--resume`: result-affecting params, model config, input hashes."""
    return {
        "params": {**params.fingerprint_dict(), "aug_rate": aug_rate},
        "model_config": config.to_dict(),
        "manifest_sha256": inputs.manifest_sha256,
        "descriptions_sha256": inputs.descriptions_sha256,
        "init_sha256": sha256_file(init) if init is not None else None,
    }


def _final_config(config: FiLoConfig, params: TrainParams, inputs: TrainingInputs) -> FiLoConfig:
    """The trained model's config with its provenance (read by the zero-shot check and model routing)."""
    return dataclasses.replace(config, provenance=TrainingProvenance(
        train_dataset=inputs.dataset,
        trained_categories=tuple(inputs.categories),
        manifest_sha256=inputs.manifest_sha256,
        descriptions_sha256=inputs.descriptions_sha256,
        epochs=params.epochs,
        adapter_epochs=params.adapter_epochs,
        seed=params.seed,
    ))


def _start_point(state: TrainingState | None, phases: list[Phase]) -> tuple[int, int]:
    """(phase index, completed epochs in it) to continue from; (0, 0) for a fresh run."""
    if state is None:
        return 0, 0
    index = next(i for i, phase in enumerate(phases) if phase.name == state.phase)
    return index, state.epochs_done


def train(
    manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    out: str | os.PathLike,
    params: TrainParams | None = None,
    *,
    eval_manifest_path: str | os.PathLike | None = None,
    init: str | os.PathLike | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train FiLo on the manifest's test split and write the final checkpoint to `out`.

    `eval_manifest_path`: the dataset the model will be evaluated on; a category it shares
    with the training data is a FiloError. `resume`: continue from `<out>.train/last.pt`
    when it exists (FiloError if it belongs to a run with other params or inputs).
    """
    params = params or TrainParams()
    started = time.perf_counter()
    out = Path(out)
    init = Path(init) if init is not None else None
    inputs = load_training_inputs(manifest_path, descriptions_path)
    if eval_manifest_path is not None:
        check_no_overlap(inputs.categories, eval_manifest_path)
    config = _base_config(params, init)
    aug_rate = resolve_aug_rate(params.aug_rate, inputs.manifest)
    fingerprint = _fingerprint(params, config, inputs, aug_rate, init)
    state_path = training_state_path(out)
    state = _resume_state(state_path, fingerprint) if resume else None
    device = torch.device(resolve_device(params.device))
    use_deterministic_kernels(params.deterministic)
    model = _starting_model(config, params, init, inputs, state, state_path).to(device)
    dataset = AnomalyDataset(inputs.manifest, config.image_size, split="test", aug_rate=aug_rate,
                             mosaic_label=params.mosaic_label, seed=params.seed, resize_mode=config.resize_mode)
    settings = EpochSettings(device=device, batch_size=params.batch_size, seed=params.seed, amp=params.amp,
                             num_workers=params.num_workers, progress=params.progress)
    history = list(state.history) if state is not None else []
    existing_state = state_path.stat().st_size if state_path.is_file() else 0
    ensure_free_space(out.parent, training_disk_estimate(model.trainable_state_dict()) - existing_state,
                      what="the training state and the checkpoint")
    recorder = TrainingRecorder(params.mlflow)
    tags = {"train_dataset": inputs.dataset, "manifest_sha256": inputs.manifest_sha256,
            "descriptions_sha256": inputs.descriptions_sha256}
    logged_params = {"train": {**params.to_dict(), "aug_rate": aug_rate}, "model": config.to_dict()}
    with recorder.run(params.experiment, out.stem, tags, params=logged_params,
                      resume_run_id=state.mlflow_run_id if state is not None else None):
        _run_phases(model, dataset, settings, params, fingerprint, state, state_path, history, recorder)
        model.config = _final_config(config, params, inputs)
        save_checkpoint(model, out)
        recorder.log_checkpoint(out)
    shutil.rmtree(state_path.parent, ignore_errors=True)
    return TrainResult(out, model, history, time.perf_counter() - started, recorder.run_id)


def _run_phases(model: FiLo, dataset: AnomalyDataset, settings: EpochSettings, params: TrainParams,
                fingerprint: dict[str, Any], state: TrainingState | None, state_path: Path,
                history: list[dict[str, Any]], recorder: TrainingRecorder) -> None:
    """Both phases from the start point; a state file after every epoch."""
    phases = training_phases(params)
    start_phase, start_epoch = _start_point(state, phases)
    data_epoch_offset = sum(phase.epochs for phase in phases[:start_phase])
    for phase_index in range(start_phase, len(phases)):
        phase = phases[phase_index]
        groups = phase.param_groups(model)
        train_only(model, trained_parameters(groups))
        optimizer = make_optimizer(groups, params)
        first_epoch = start_epoch if phase_index == start_phase else 0
        if state is not None and phase_index == start_phase and first_epoch > 0:
            optimizer.load_state_dict(state.optimizer)
        model.train()
        for epoch in range(first_epoch, phase.epochs):
            epoch_started = time.perf_counter()
            loss = run_epoch(model, dataset, optimizer, phase.loss, data_epoch=data_epoch_offset + epoch,
                             label=f"{phase.name} epoch {epoch + 1}/{phase.epochs}", settings=settings,
                             recovery_hint=_recovery_hint(state_path), max_steps=params.max_steps_per_epoch)
            seconds = time.perf_counter() - epoch_started
            logger.info("%s epoch %d/%d: loss %.4f (%.1f s)", phase.name, epoch + 1, phase.epochs, loss, seconds)
            history.append({"phase": phase.name, "epoch": epoch + 1, "loss": loss})
            recorder.log_epoch(phase.name, epoch + 1, loss, optimizer, seconds=seconds)
            save_training_state(TrainingState(
                fingerprint=fingerprint, phase=phase.name, epochs_done=epoch + 1,
                model=model.trainable_state_dict(), optimizer=optimizer.state_dict(),
                rng=capture_rng_state(), history=history, mlflow_run_id=recorder.run_id,
            ), state_path)
        data_epoch_offset += phase.epochs
    model.eval()


def _recovery_hint(state_path: Path) -> str:
    """What a failed epoch leaves behind: the last completed epoch's state, when there is one."""
    if not state_path.is_file():
        return "; no epoch had completed, so there is no training state to resume from"
    return f"; the state of the last completed epoch stays at {state_path} (continue with --resume)"
