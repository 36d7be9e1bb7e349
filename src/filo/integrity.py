"""Content hashes for the torch payload files filo writes (checkpoints, training states).

A payload is a dict of tensors and plain values. `seal` adds `content_sha256`, a SHA-256
over the payload's content in a canonical form (keys sorted; each tensor's dtype, shape
and raw bytes; plain values by type and repr), so it does not depend on how torch laid
the file out. `verify` recomputes it after loading: a flipped byte in a tensor, a changed
number or a lost key makes the hash differ and the load fail with a clear error, instead
of a model that silently predicts something else.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from filo.errors import FiloError

CONTENT_HASH_KEY = "content_sha256"


def content_digest(value: Any) -> str:
    """Hex SHA-256 of `value` (nested dicts/lists/tuples of tensors, arrays and plain values)."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    """Add one value to `digest`, tagged with its type so that e.g. 1, 1.0, "1" and (1,) all differ."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"A{array.dtype.str}{array.shape}".encode())
        digest.update(array.view(np.uint8).reshape(-1))
    elif isinstance(value, Mapping):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, str):
        encoded = value.encode("utf-8")
        digest.update(f"S{len(encoded)}:".encode() + encoded)
    elif isinstance(value, bytes):
        digest.update(f"B{len(value)}:".encode() + value)
    elif value is None or isinstance(value, (bool, int, float, np.generic, torch.dtype, torch.device)):
        digest.update(f"P{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"cannot hash a {type(value).__name__} in a filo payload")


def seal(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`payload` with its content hash added under `content_sha256`."""
    body = {key: value for key, value in payload.items() if key != CONTENT_HASH_KEY}
    return {**body, CONTENT_HASH_KEY: content_digest(body)}


def verify(payload: Mapping[str, Any], path: str | os.PathLike, *, what: str, hint: str) -> dict[str, Any]:
    """The payload without its hash, after checking the hash; FiloError when it is missing or differs.

    `what` names the file kind ("checkpoint", "training state") and `hint` says how to get a good one.
    """
    stored = payload.get(CONTENT_HASH_KEY)
    if not isinstance(stored, str):
        raise FiloError(f"{what} {path} has no content hash, so its contents cannot be verified; {hint}")
    body = {key: value for key, value in payload.items() if key != CONTENT_HASH_KEY}
    actual = content_digest(body)
    if actual != stored:
        raise FiloError(
            f"{what} {path} is corrupt: its contents do not match the content hash written when it was saved "
            f"(stored sha256 {stored[:16]}…, now {actual[:16]}…); {hint}"
        )
    return body
