"""Atomic, pickle-free checkpoints of a whole GAN run (``.npz``).

One file holds every array of ``GAN.state_dict()`` (both networks, both optimizers' moments and
step counts, the step), plus three small text entries: the config as JSON, the noise/data RNG
state as JSON, and a format tag. It loads with ``np.load(path, allow_pickle=False)``.

Writing is atomic: the file is written beside the target under a temporary name, flushed to
disk, then renamed over the target (``os.replace``). A crash mid-write leaves the previous
checkpoint untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .config import GANConfig
from .model import GAN

FORMAT = "tinygan-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, foreign, or does not match the model."""


def _rng_state(gan: GAN) -> dict:
    if isinstance(gan.rng, np.random.Generator):
        return {"kind": "numpy", "state": gan.rng.bit_generator.state}
    # CuPy's Generator also has a bit_generator, but its state cannot be saved: it is re-seeded
    # from (seed, step) on load, so a resumed GPU run is reproducible though not bit-identical.
    return {"kind": "device"}


def save_checkpoint(gan: GAN, path: str | os.PathLike) -> None:
    """Write ``gan`` to ``path`` atomically."""
    path = os.fspath(path)
    arrays = dict(gan.state_dict())
    arrays["__format__"] = np.array(FORMAT)
    arrays["__config__"] = np.array(json.dumps(gan.config.to_dict()))
    arrays["__rng__"] = np.array(json.dumps(_rng_state(gan)))
    arrays["__seed__"] = np.int64(gan.seed)
    arrays["__history__"] = np.array(json.dumps(gan.history))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """All entries of a checkpoint as host arrays; CheckpointError if it is not a sound one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            entries = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"checkpoint {path!r} is unreadable or truncated ({error})") from None
    if "__format__" not in entries or str(entries["__format__"]) != FORMAT:
        raise CheckpointError(f"{path!r} is not a tinygan checkpoint (expected format {FORMAT})")
    return entries


def load_checkpoint(path: str | os.PathLike, data: Any, *, config: GANConfig | None = None) -> GAN:
    """Rebuild the GAN saved at ``path`` (on the current backend) to train or sample from it.

    If ``config`` is given it must describe the same architecture as the checkpoint;
    fields that do not change the arrays (e.g. ``steps``) may differ.
    """
    entries = read_checkpoint(path)
    try:
        saved = GANConfig.from_dict(json.loads(str(entries["__config__"])))
        rng_state = json.loads(str(entries["__rng__"]))
        seed = int(entries["__seed__"])
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} has a corrupt header ({error})") from None
    config = config or saved
    architecture = ("hidden", "depth", "noise_dim", "data_dim", "g_activation", "d_activation", "pack", "dtype")
    for name in (*architecture, "g_output", "num_classes"):  # every field that shapes the arrays
        if getattr(config, name) != getattr(saved, name):
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r} has {name}={getattr(saved, name)!r}, "
                f"but the model asks for {name}={getattr(config, name)!r}"
            )
    gan = GAN(data, config, seed=seed)
    state = {k: v for k, v in entries.items() if not k.startswith("__")}
    try:
        gan.load_state_dict(state)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} does not match the model: {error}") from None
    if "__history__" in entries:
        gan.history = json.loads(str(entries["__history__"]))
    if rng_state.get("kind") == "numpy" and isinstance(gan.rng, np.random.Generator):
        gan.rng.bit_generator.state = rng_state["state"]
    else:
        gan.rng = gan._make_rng([seed, 1, gan.step])
    return gan
