"""The one output layer: every file tinygan writes goes through here.

Rules, written once:

- **Atomic writes.** ``atomic_write`` writes a temporary file beside the target, flushes and
  fsyncs it, then renames it over the target (``os.replace``). A crash mid-write leaves the
  previous file (or nothing) and never a half-written one; the temporary file is removed on any
  failure. New files get the permissions of any new file (0666 less the umask).
- **Which files are tinygan's.** One rule: a file is tinygan's when the manifest
  ``.tinygan-run.json`` in its folder lists it. The manifest lists, in ``"run"``, the files the
  last run wrote into that folder as its output folder (``--out``), and in ``"files"``, the single
  files (``--json PATH``) written there. Every write is recorded in the manifest as it happens, so
  even a run that stops half-way leaves its files recognisable. A single output written by other
  code names its own rule instead: a checkpoint replaces only a tinygan checkpoint
  (``OutputPlan.file(..., ours=is_checkpoint)``), never another of tinygan's files.
- **Never over a file tinygan did not create.** An existing file that is not tinygan's is
  refused (before any work) unless the plan was made with ``force=True`` (the ``--force`` flag).
- **Stale outputs go.** A run into an output folder first removes exactly the files the folder's
  previous run listed under ``"run"``, and nothing else, so a GIF or a ``labels.npy`` of an
  earlier run never sits beside the new run's files. Files the manifest does not list stay.
- **Everything is checked first.** ``OutputPlan.check`` runs before any training and refuses, in
  one line naming the flag: an output place that cannot be written (tried with a real temporary
  file: ``access()`` says yes to root), a folder where a file is expected or a file where a
  folder is, two outputs at the same place, an output at an input's place, an input that the
  folder's previous run listed (it would be removed), and foreign files (see above).

A run uses an ``OutputPlan``::

    plan = OutputPlan(force=args.force)
    plan.input(args.data, "--data")
    plan.folder(args.out, ["samples.npy", "metrics.json"], flag="--out")
    plan.file(args.checkpoint, "--checkpoint", ours=is_checkpoint, written_elsewhere=True)
    plan.check()                  # before any work: ValueError naming the flag
    ...                           # train
    plan.start()                  # create folders, remove the previous run's listed files
    plan.write("samples.npy", lambda f: np.save(f, samples))
    write_json(plan, "metrics.json", metrics)
    plan.finish()                 # the manifest marks the run complete

This module imports nothing from tinygan (every layer may use it).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MANIFEST = ".tinygan-run.json"
MANIFEST_TAG = "tinygan-outputs-v1"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write(file)`` fills a temporary file in the same folder, which is
    flushed, fsynced and renamed over ``path``. On any failure the temporary file is removed and
    ``path`` is untouched. The folder must exist."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; an output is an ordinary file
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.remove(temporary)
        raise


@dataclass(frozen=True)
class Target:
    """One declared output of a plan, to hand to code that writes it (e.g. ``plot.contours``):
    ``path`` (its extension names the format) and ``write(writer)``, the plan's atomic, recorded write."""

    plan: OutputPlan
    name: str

    @property
    def path(self) -> str:
        return self.plan.path(self.name)

    def write(self, write: Callable[[BinaryIO], None]) -> str:
        return self.plan.write(self.name, write)


def write_to(target: Target | str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into ``target``: a plan's declared output (recorded), or a path (atomically)."""
    if isinstance(target, Target):
        target.write(write)
    else:
        atomic_write(target, write)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or inf float replaced by None (JSON has no NaN: it becomes null)."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy scalar
        return json_safe(value.item())
    return value


def json_bytes(value: Any) -> bytes:
    """``value`` as strict JSON (NaN and inf written as null), UTF-8."""
    return (json.dumps(json_safe(value), indent=1, allow_nan=False) + "\n").encode("utf-8")


def write_json(target: OutputPlan | str | os.PathLike, name_or_value: Any, value: Any = None) -> None:
    """Write strict JSON atomically: ``write_json(plan, name, value)`` through a plan (recorded in
    its manifest), or ``write_json(path, value)`` straight to a path."""
    if isinstance(target, OutputPlan):
        data = json_bytes(value)
        target.write(name_or_value, lambda file: file.write(data))
    else:
        data = json_bytes(name_or_value)
        atomic_write(target, lambda file: file.write(data))


def read_manifest(folder: str) -> dict[str, list[str]] | None:
    """The manifest of ``folder``: {"run": [names], "files": [names]}, or None when there is none or
    it is not one of ours (then nothing in the folder counts as tinygan's). Only plain names are kept."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as file:
            manifest = json.load(file)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_TAG:
        return None
    return {key: [name for name in _names(manifest.get(key)) if _plain_name(name)] for key in ("run", "files")}


def _names(value: Any) -> list:
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


def _plain_name(name: str) -> bool:
    """A file name inside its folder: no separators, not '.', '..' or the manifest itself."""
    return bool(name) and name not in (".", "..", MANIFEST) and os.path.basename(name) == name and "\\" not in name


def _write_manifest(folder: str, run: Iterable[str], files: Iterable[str], *, complete: bool) -> None:
    manifest = {"format": MANIFEST_TAG, "run": sorted(set(run)), "files": sorted(set(files)), "complete": complete}
    data = json_bytes(manifest)
    atomic_write(os.path.join(folder, MANIFEST), lambda file: file.write(data))


def listed(path: str) -> bool:
    """Whether the manifest in ``path``'s folder lists it (as a run's output or a single file)."""
    folder, name = os.path.split(os.path.abspath(path))
    manifest = read_manifest(folder)
    return manifest is not None and (name in manifest["run"] or name in manifest["files"])


@dataclass
class _Folder:
    path: str
    names: tuple[str, ...]
    flag: str
    written: list[str] = field(default_factory=list)


@dataclass
class _File:
    path: str
    flag: str
    ours: Callable[[str], bool] | None
    written_elsewhere: bool


class OutputPlan:
    """The files one run reads and writes, checked before the run starts (see the module docstring).

    ``force``: allow overwriting existing files tinygan did not create (the ``--force`` flag)."""

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self._inputs: list[tuple[str, str]] = []
        self._folders: list[_Folder] = []
        self._files: list[_File] = []
        self._started = False

    # -- declaring ---------------------------------------------------------------------------

    def input(self, path: str | os.PathLike | None, flag: str) -> None:
        """A file the run reads (never written, never removed). None is ignored."""
        if path is not None:
            self._inputs.append((os.fspath(path), flag))

    def folder(self, path: str | os.PathLike, names: Iterable[str], flag: str = "--out") -> None:
        """The run's output folder and every name the run may write into it."""
        names = tuple(names)
        for name in names:
            if not _plain_name(name):
                raise ValueError(f"output name {name!r} must be a plain file name")
        self._folders.append(_Folder(os.fspath(path), names, flag))

    def file(self, path: str | os.PathLike | None, flag: str, *, ours: Callable[[str], bool] | None = None,
             written_elsewhere: bool = False) -> None:  # fmt: skip
        """A single output file (e.g. ``--json PATH``). ``ours(path)``: whether an existing file there
        may be replaced without ``force``, instead of the manifest's say (e.g. ``is_checkpoint``).
        ``written_elsewhere``: the file is written by other code (a checkpoint written by the training
        loop), only checked here. None is ignored."""
        if path is not None:
            self._files.append(_File(os.fspath(path), flag, ours, written_elsewhere))

    # -- checking ----------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse, before any work, every output that would fail or do harm: ValueError, one line
        naming the flag (see the module docstring for the rules)."""
        outputs: dict[str, str] = {}  # realpath -> "FLAG PATH", to find two outputs at one place
        for single in self._files:  # first: a single file's own problem says more than a clash with a folder's name
            self._check_file(single, outputs)
        for folder in self._folders:
            self._check_folder(folder, outputs)
        self._check_inputs(outputs)

    def _check_folder(self, folder: _Folder, outputs: dict[str, str]) -> None:
        where = f"{folder.flag} {folder.path}"
        if os.path.exists(folder.path) and not os.path.isdir(folder.path):
            raise ValueError(f"{where} is a file, not a folder")
        _check_writable(folder.path, where)
        self._claim(os.path.realpath(folder.path), where, outputs)
        manifest = read_manifest(folder.path) if os.path.isdir(folder.path) else None
        previous = set(manifest["run"] + manifest["files"]) if manifest else set()
        for name in folder.names:
            path = os.path.join(folder.path, name)
            self._claim(os.path.realpath(path), f"{folder.flag} {path}", outputs)
            if os.path.isdir(path):
                raise ValueError(f"{where}: {path} is a folder where the run writes a file; move it away")
            _refuse_special_file(path, f"{folder.flag} {path}")
            if os.path.lexists(path) and name not in previous and not self.force:
                raise ValueError(
                    f"{where}: {name} exists there and was not written by tinygan; "
                    "choose another --out, or pass --force to overwrite it"
                )
        self._claim(os.path.realpath(os.path.join(folder.path, MANIFEST)), where, outputs)

    def _check_file(self, single: _File, outputs: dict[str, str]) -> None:
        where = f"{single.flag} {single.path}"
        if os.path.isdir(single.path) or single.path.endswith(("/", os.sep)):
            raise ValueError(f"{where} is a folder; give a file path")
        if os.path.basename(single.path) == MANIFEST:
            raise ValueError(f"{where}: {MANIFEST} is tinygan's record of a folder's outputs; choose another name")
        _refuse_special_file(single.path, where)
        _check_writable(os.path.dirname(os.path.abspath(single.path)), where)
        self._claim(os.path.realpath(single.path), where, outputs)
        if os.path.lexists(single.path) and not self.force and not self._is_ours(single):
            raise ValueError(
                f"{where} exists and was not written by tinygan; choose another path, or pass --force to overwrite it"
            )

    @staticmethod
    def _is_ours(single: _File) -> bool:
        """``ours``, when given, is the whole rule (a checkpoint replaces only a checkpoint, not another of
        tinygan's files); otherwise the manifest's say."""
        return single.ours(single.path) if single.ours is not None else listed(single.path)

    @staticmethod
    def _claim(real: str, where: str, outputs: dict[str, str]) -> None:
        if real in outputs and outputs[real] != where:
            raise ValueError(f"{where} is the same place as {outputs[real]}; choose another path")
        outputs[real] = where

    def _check_inputs(self, outputs: dict[str, str]) -> None:
        stale = {os.path.realpath(os.path.join(f.path, name)) for f in self._folders for name in _stale(f.path)}
        for path, flag in self._inputs:
            real = os.path.realpath(path)
            if real in outputs:
                raise ValueError(f"{flag} {path} is also an output ({outputs[real]}); the run would overwrite it")
            if real in stale:
                raise ValueError(
                    f"{flag} {path} is an output of the previous run in its folder, which this run clears; "
                    "copy it elsewhere or choose another --out"
                )

    # -- writing -----------------------------------------------------------------------------

    def start(self) -> None:
        """Create the output folders, and remove exactly the files each folder's previous run listed."""
        for folder in self._folders:
            os.makedirs(folder.path, exist_ok=True)
            manifest = read_manifest(folder.path)
            for name in _stale(folder.path):
                path = os.path.join(folder.path, name)
                if os.path.islink(path) or os.path.isfile(path):
                    os.remove(path)
            files = manifest["files"] if manifest else []
            _write_manifest(folder.path, [], files, complete=False)
        for single in self._files:
            os.makedirs(os.path.dirname(os.path.abspath(single.path)), exist_ok=True)
        self._started = True

    def path(self, name_or_path: str) -> str:
        """Where a declared output lives: a name in an output folder, or a single file's path."""
        for folder in self._folders:
            if name_or_path in folder.names:
                return os.path.join(folder.path, name_or_path)
        for single in self._files:
            if name_or_path == single.path:
                return single.path
        raise ValueError(f"{name_or_path!r} is not an output of this run (declare it with folder() or file())")

    def target(self, name_or_path: str) -> Target:
        """A declared output as a ``Target``, to pass to code that writes files (``plot``)."""
        self.path(name_or_path)  # refuse an undeclared name now, not when it is written
        return Target(self, name_or_path)

    def write(self, name_or_path: str, write: Callable[[BinaryIO], None]) -> str:
        """Write a declared output atomically with ``write(file)``, record it in its folder's manifest,
        and return its path."""
        if not self._started:
            self.start()
        path = self.path(name_or_path)
        atomic_write(path, write)
        self._record(name_or_path, path)
        return path

    def _record(self, name_or_path: str, path: str) -> None:
        for folder in self._folders:
            if name_or_path in folder.names:
                folder.written.append(name_or_path)
                self._update(folder.path, run=folder.written)
                return
        directory, name = os.path.split(os.path.abspath(path))
        manifest = read_manifest(directory)
        self._update(directory, files=[*(manifest["files"] if manifest else []), name])

    def _update(self, directory: str, *, run: list[str] | None = None, files: list[str] | None = None) -> None:
        manifest = read_manifest(directory) or {"run": [], "files": []}
        own = next((f for f in self._folders if os.path.realpath(f.path) == os.path.realpath(directory)), None)
        runs = run if run is not None else (own.written if own else manifest["run"])
        # a folder that is not this run's output folder holds only finished single files
        _write_manifest(directory, runs, files if files is not None else manifest["files"], complete=own is None)

    def finish(self) -> None:
        """Write each output folder's manifest: the files this run wrote there, marked complete."""
        if not self._started:
            self.start()
        for folder in self._folders:
            manifest = read_manifest(folder.path)
            _write_manifest(folder.path, folder.written, manifest["files"] if manifest else [], complete=True)

    def written(self) -> list[str]:
        """The paths this run has written so far, in order."""
        return [os.path.join(f.path, name) for f in self._folders for name in f.written]


def _stale(folder: str) -> list[str]:
    """The files the previous run into ``folder`` listed as its outputs (to be removed)."""
    manifest = read_manifest(folder) if os.path.isdir(folder) else None
    return manifest["run"] if manifest else []


def _refuse_special_file(path: str, where: str) -> None:
    """Refuse, even with ``force``, an output over something that is not a regular file: a FIFO (reading
    it to see whether it is ours would wait for a writer), a socket or a device such as /dev/null
    (replacing it would break the system)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # nothing there (or a dangling link): a new file
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise ValueError(f"{where} is {what}, not a regular file; choose another path")


def _check_writable(folder: str, where: str) -> None:
    """``folder`` (or, if missing, its nearest existing parent) is a folder we can create a file in;
    tried with a real temporary file, since ``access()`` says yes to root."""
    parent = os.path.abspath(folder)
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{where}: {parent} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise ValueError(f"{where}: cannot write into {parent} ({error.strerror})") from None
