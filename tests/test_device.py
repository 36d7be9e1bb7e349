"""The one device helper: "auto"/None pick CUDA only when present, and asking for absent CUDA is a clear error."""

from __future__ import annotations

import pytest
import torch

from filo.device import resolve_device
from filo.errors import FiloError


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("setting", ["auto", None, ""])
def test_auto_picks_cpu_without_cuda(no_cuda, setting) -> None:
    assert resolve_device(setting) == "cpu"


@pytest.mark.parametrize("setting", ["auto", None, ""])
def test_auto_picks_cuda_when_present(two_gpus, setting) -> None:
    assert resolve_device(setting) == "cuda"


def test_explicit_devices_are_kept(two_gpus) -> None:
    assert [resolve_device(name) for name in ("cpu", "cuda", "cuda:1")] == ["cpu", "cuda", "cuda:1"]


@pytest.mark.parametrize("setting", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_an_error_naming_the_fix(no_cuda, setting) -> None:
    with pytest.raises(FiloError, match=f"device '{setting}' was asked for but torch sees no CUDA device.*'auto'"):
        resolve_device(setting)


def test_a_missing_cuda_index_is_an_error(two_gpus) -> None:
    with pytest.raises(FiloError, match=r"'cuda:2'.*only 2 CUDA device\(s\) \(cuda:0..cuda:1\)"):
        resolve_device("cuda:2")


def test_an_unknown_device_name_is_an_error() -> None:
    with pytest.raises(FiloError, match="unknown device 'gpu'"):
        resolve_device("gpu")
