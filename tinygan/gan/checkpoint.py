"""Atomic, pickle-free checkpoints of a whole GAN run (``.npz``).

One file holds every array of ``GAN.state_dict()`` (both networks, both optimizers' moments and
step counts, the step), plus small text entries: the config as JSON (its ``steps`` is the run's
total), the noise/data RNG state, the seed, the history, the backend it trained on, what data the
run trains on (a preset's name and the SHA-256 of its parameters, or the points' absolute path,
shape and SHA-256), and a format tag. It loads with
``np.load(path, allow_pickle=False)``, and every entry is checked on load, naming the one at fault.

Writing is atomic (``tinygan.outputs.atomic_write``): the file is written beside the target under
a temporary name, flushed to disk, then renamed over the target. A crash mid-write leaves the
previous checkpoint untouched. The file gets the permissions of any new file (0666 less the umask).
A checkpoint belongs to its run: ``checkpoint_progress`` tells whether the run it holds is
unfinished, so a new run does not replace it by accident.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from typing import Any

import numpy as np

from ..evaluation.data import EmpiricalData, GaussianMixture, load_points, mixture
from ..fast.backend import get_backend
from ..outputs import atomic_write
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


def data_record(data: Any) -> dict[str, Any]:
    """What a run trains on, to recognise it on resume.

    A preset mixture: its name and the SHA-256 of its means, covariances and weights (so a preset
    changed since is noticed on resume); a user's points: the file they came from (absolute, so
    a resume from another folder finds it), their shape, and the SHA-256 of the points as the run
    sees them (so the same points from .csv or .npy match). Any other data source is recorded by its
    type only, and is not checked."""
    if isinstance(data, GaussianMixture):
        digest = hashlib.sha256()
        for array in (data.means, data.covs, data.weights):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return {"kind": "mixture", "name": getattr(data, "name", None), "sha256": digest.hexdigest()}
    if isinstance(data, EmpiricalData):
        digest = hashlib.sha256(np.ascontiguousarray(data.points).tobytes()).hexdigest()
        path = getattr(data, "path", None)
        path = None if path is None else os.path.abspath(path)
        return {"kind": "points", "path": path, "shape": list(data.points.shape), "sha256": digest}
    return {"kind": type(data).__name__}


def describe_data(record: dict[str, Any]) -> str:
    """A data record in words: mixture 'two', or points.csv (500, 2), or 500 points (an array)."""
    if record.get("kind") == "mixture":
        return f"mixture {record['name']!r}" if record.get("name") else "a custom GaussianMixture"
    if record.get("kind") == "points":
        shape = tuple(record.get("shape", ()))
        return f"{record['path']} {shape}" if record.get("path") else f"points of shape {shape} (an array)"
    return f"a {record.get('kind', 'unknown')} data source"


def data_from_record(record: dict[str, Any], path: str) -> Any:
    """Rebuild the data a checkpoint was trained on: the preset or the file, checked unchanged by
    their SHA-256 (a record without one, from an older checkpoint, is trusted)."""
    if record.get("kind") == "mixture" and record.get("name"):
        try:
            data = mixture(record["name"])
        except (KeyError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path!r} was trained on mixture {record['name']!r}: {error}") from None
        if "sha256" in record and data_record(data)["sha256"] != record["sha256"]:
            raise CheckpointError(
                f"mixture {record['name']!r} is not the one checkpoint {path!r} was trained on "
                "(its means, covariances or weights have changed)"
            )
        return data
    if record.get("kind") == "points" and record.get("path"):
        try:
            data = load_points(record["path"])
        except ValueError as error:  # moved, deleted or spoiled since: say whose file it is, and the way out
            raise CheckpointError(
                f"checkpoint {path!r} trained on the points in {record['path']!r}, which cannot be read now "
                f"({error}); pass the same points as data (on the command line: --data PATH)"
            ) from None
        if data_record(data)["sha256"] != record["sha256"]:
            raise CheckpointError(f"{record['path']} has changed since checkpoint {path!r} was trained on it")
        return data
    if record.get("kind") == "points":  # points from no file: the digits demo's, or an array given in Python
        raise CheckpointError(
            f"checkpoint {path!r} was trained on {describe_data(record)}, from no file; resume it with "
            "the script that trained it (demos/digits.py for its digits), or in Python with the same points as data"
        )
    raise CheckpointError(f"checkpoint {path!r} was trained on {describe_data(record)}; pass that data to resume")


def _checked_path(path: Any) -> str:
    """os.fspath(path) for a non-empty str or os.PathLike path; else an error naming path."""
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not os.fspath(path):
        raise ValueError("path must not be empty")
    return os.fspath(path)


def save_checkpoint(gan: GAN, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``gan`` to ``path`` atomically; ValueError if its state is not finite (nothing written), or
    if ``path`` holds a file that is not a tinygan checkpoint, unless ``force`` (the ``--force`` flag)."""
    if not isinstance(gan, GAN):
        raise TypeError(f"gan must be a tinygan GAN, got {type(gan).__name__}")
    path = _checked_path(path)
    if not force and os.path.exists(path) and not is_checkpoint(path):
        raise ValueError(f"{path!r} exists and is not a tinygan checkpoint; refusing to write over it")
    arrays = dict(gan.state_dict())
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"refusing to save a checkpoint whose {name} contains NaN or inf")
    arrays["__format__"] = np.array(FORMAT)
    arrays["__config__"] = np.array(json.dumps(gan.config.to_dict()))
    arrays["__rng__"] = np.array(json.dumps(_rng_state(gan)))
    arrays["__seed__"] = np.array(str(gan.seed))  # text: a seed may exceed int64
    arrays["__history__"] = np.array(json.dumps(gan.history))
    arrays["__data__"] = np.array(json.dumps(data_record(gan.data)))
    arrays["__backend__"] = np.array(get_backend().name)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda file: np.savez(file, **arrays))


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a tinygan checkpoint (a zip holding our format tag), without loading it.
    Only a regular file is opened (opening a FIFO would wait for a writer)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with zipfile.ZipFile(path) as archive:
            if "__format__.npy" not in archive.namelist():
                return False
        with np.load(path, allow_pickle=False) as entries:
            return str(entries["__format__"]).startswith("tinygan-checkpoint")
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return False


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """All entries of a checkpoint as host arrays; CheckpointError if it is not a sound one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a folder, not a checkpoint file")
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} is not a regular file (a FIFO, socket or device)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path!r} is unreadable or truncated, or not a tinygan checkpoint (no .npz)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            entries = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"checkpoint {path!r} is unreadable or truncated ({error})") from None
    if "__format__" not in entries or str(entries["__format__"]) != FORMAT:
        raise CheckpointError(f"{path!r} is not a tinygan checkpoint (expected format {FORMAT})")
    return entries


def checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """The checked headers of a checkpoint, without building a model: config (whose ``steps`` is the
    run's total), seed, data (record, or None for old files), backend (None for old files), history,
    rng, step, and the raw entries."""
    path = os.fspath(path)
    entries = read_checkpoint(path)
    info = {
        "config": _header(entries, "__config__", path, lambda text: GANConfig.from_dict(json.loads(text))),
        "rng": _header(entries, "__rng__", path, json.loads),
        "seed": _header(entries, "__seed__", path, _seed),
        "history": _header(entries, "__history__", path, _history) if "__history__" in entries else [],
        "data": _header(entries, "__data__", path, json.loads) if "__data__" in entries else None,
        "backend": _header(entries, "__backend__", path, _backend) if "__backend__" in entries else None,
        "entries": entries,
    }
    if not isinstance(info["rng"], dict) or info["rng"].get("kind") not in ("numpy", "device"):
        raise CheckpointError(f"checkpoint {path!r} has a corrupt field __rng__ (not a saved RNG state)")
    if info["data"] is not None and not isinstance(info["data"], dict):
        raise CheckpointError(f"checkpoint {path!r} has a corrupt field __data__ (not a data record)")
    try:
        info["config"].validate()
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path!r} has a corrupt field __config__ ({error})") from None
    _check_arrays({k: v for k, v in entries.items() if not k.startswith("__")}, info["config"], path)
    info["step"] = int(entries["step"])
    return info


def load_checkpoint(path: str | os.PathLike, data: Any = None, *, config: GANConfig | None = None) -> GAN:
    """Rebuild the GAN saved at ``path`` (on the current backend) to train or sample from it.

    ``data``: what to train on; None rebuilds what the checkpoint was trained on (a preset, or
    the points' file, checked unchanged). Other data than the checkpoint's is a CheckpointError.
    If ``config`` is given it must describe the same architecture as the checkpoint;
    fields that do not change the arrays (e.g. ``steps``) may differ.
    """
    path = _checked_path(path)
    if config is not None and not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig or None, got {type(config).__name__}")
    info = checkpoint_info(path)
    saved, seed, record, entries = info["config"], info["seed"], info["data"], info["entries"]
    if data is None:
        if record is None:
            raise CheckpointError(f"checkpoint {path!r} does not record its data; pass the data to resume")
        data = data_from_record(record, path)
    elif record is not None and "sha256" in record and data_record(data).get("sha256") != record["sha256"]:
        raise CheckpointError(
            f"checkpoint {path!r} was trained on {describe_data(record)}, not on {describe_data(data_record(data))}"
        )
    config = config or saved
    architecture = ("hidden", "depth", "noise_dim", "data_dim", "g_activation", "d_activation", "pack", "dtype")
    fourier = ("fourier_features", "fourier_max_scale", "pack_spread")  # D's input features: width, frequencies
    codes = ("latent_codes", "code_info")  # G's input width; whether Q exists
    for name in (*architecture, "g_output", "num_classes", *fourier, *codes):  # every field the arrays depend on
        if getattr(config, name) != getattr(saved, name):
            raise CheckpointError(
                f"checkpoint {path!r} has {name}={getattr(saved, name)!r}, "
                f"but the model asks for {name}={getattr(config, name)!r}"
            )
    state = {k: v for k, v in entries.items() if not k.startswith("__")}
    gan = GAN(data, config, seed=seed)
    try:
        gan.load_state_dict(state)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path!r} does not match the model: {error}") from None
    gan.history = info["history"]
    rng_state = info["rng"]
    if rng_state["kind"] == "numpy" and isinstance(gan.rng, np.random.Generator):
        try:
            gan.rng.bit_generator.state = rng_state["state"]
        except (KeyError, ValueError, TypeError) as error:
            raise CheckpointError(f"checkpoint {path!r} has a corrupt field __rng__ ({error})") from None
    else:
        gan.rng = gan._make_rng([seed, 1, gan.step])
    return gan


def _header(entries: dict[str, Any], name: str, path: str, parse: Any) -> Any:
    """Parse a text entry, or CheckpointError naming it."""
    try:
        return parse(str(entries[name]))
    except KeyError:
        raise CheckpointError(f"checkpoint {path!r} has no field {name}") from None
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path!r} has a corrupt field {name} ({error})") from None


def _backend(text: str) -> str:
    from ..fast.backend import BACKEND_NAMES

    if text not in BACKEND_NAMES:
        raise ValueError(f"expected one of {BACKEND_NAMES}, got {text!r}")
    return text


def checkpoint_progress(path: str | os.PathLike) -> tuple[int, int] | None:
    """(step, total) of the run saved at ``path``, or None when it is not a readable tinygan checkpoint."""
    if not is_checkpoint(path):
        return None
    try:
        info = checkpoint_info(path)
    except CheckpointError:
        return None
    return info["step"], info["config"].steps


def _seed(text: str) -> int:
    seed = int(text)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return seed


def _history(text: str) -> list[dict[str, Any]]:
    history = json.loads(text)
    if not isinstance(history, list) or not all(isinstance(r, dict) and type(r.get("step")) is int for r in history):
        raise ValueError("expected a list of records with an integer step")
    return history


def _check_arrays(state: dict[str, Any], config: GANConfig, path: str) -> None:
    """Every array finite (moments v >= 0), every step count a non-negative integer and consistent
    with the optimizers' counts; CheckpointError naming the field."""

    def bad(name: str, what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path!r}: field {name} {what}")

    counts = {}
    for name, value in state.items():
        value = np.asarray(value)
        if name == "step" or name.endswith(".step"):
            if value.shape != () or value.dtype.kind not in "iu":
                raise bad(name, f"must be an integer, got {value.dtype} of shape {value.shape}")
            if int(value) < 0:
                raise bad(name, f"must be >= 0, got {int(value)}")
            counts[name] = int(value)
        elif value.dtype.kind != "f":
            raise bad(name, f"must be a float array, got dtype {value.dtype}")
        elif not np.all(np.isfinite(value)):
            raise bad(name, f"contains {int(np.sum(~np.isfinite(value)))} NaN or inf value(s)")
        elif name.startswith(("opt_G.v.", "opt_D.v.", "opt_Q.v.")) and np.any(value < 0):
            raise bad(name, "holds Adam's squared-gradient average and must be >= 0")
    step = counts.get("step")
    if step is None:
        raise bad("step", "is missing")
    expected = {"opt_G.step": step, "opt_D.step": step * config.d_steps, "opt_Q.step": step}
    for name, value in expected.items():
        if name in counts and counts[name] != value:
            raise bad(name, f"is {counts[name]}, but {step} steps of this run make {value}")
