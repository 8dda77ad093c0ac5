"""The output layer: atomic writes, the manifest, and the checks an OutputPlan makes before a run."""

from __future__ import annotations

import json
import os

import pytest

from tinygan.outputs import MANIFEST, OutputPlan, atomic_write, read_manifest, write_json


def _text(data: bytes):
    return lambda file: file.write(data)


def _plan(tmp_path, names=("a.txt", "b.txt"), force=False) -> OutputPlan:
    plan = OutputPlan(force=force)
    plan.folder(str(tmp_path / "out"), names)
    return plan


def test_atomic_write_replaces_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write(target, _text(b"one"))
    assert target.read_bytes() == b"one"

    def fail(file):
        file.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"one"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]  # the temporary file is gone


def test_a_second_run_removes_exactly_the_files_the_first_listed(tmp_path):
    plan = _plan(tmp_path)
    plan.check()
    plan.write("a.txt", _text(b"1"))
    plan.write("b.txt", _text(b"2"))
    plan.finish()
    (tmp_path / "out" / "mine.txt").write_text("a user's file")
    again = _plan(tmp_path, names=("a.txt",))
    again.check()
    again.write("a.txt", _text(b"3"))
    again.finish()
    assert sorted(os.listdir(tmp_path / "out")) == [MANIFEST, "a.txt", "mine.txt"]
    assert read_manifest(str(tmp_path / "out"))["run"] == ["a.txt"]


def test_a_foreign_file_is_refused_unless_forced(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("not ours")
    with pytest.raises(ValueError, match=r"^--out .*a\.txt exists.*--force"):
        _plan(tmp_path).check()
    plan = _plan(tmp_path, force=True)
    plan.check()
    plan.write("a.txt", _text(b"ours now"))
    plan.finish()
    _plan(tmp_path).check()  # listed in the manifest now: no --force needed


def test_json_is_strict_and_a_single_file_is_recorded_beside_it(tmp_path):
    plan = OutputPlan()
    plan.file(str(tmp_path / "r.json"), "--json")
    plan.check()
    write_json(plan, str(tmp_path / "r.json"), {"a": float("nan")})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": None}
    assert read_manifest(str(tmp_path))["files"] == ["r.json"]
    OutputPlan().file(str(tmp_path / "r.json"), "--json")  # ours: a second run may overwrite it


def test_a_tampered_manifest_never_removes_a_file_outside_its_folder_or_unlisted(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "precious.txt"
    out.mkdir()
    outside.write_text("keep")
    (out / "mine.txt").write_text("keep too")
    manifest = {"format": "tinygan-outputs-v1", "run": ["../precious.txt", str(outside), "a.txt"], "files": []}
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert read_manifest(str(out))["run"] == ["a.txt"]  # only plain names count
    plan = _plan(tmp_path)
    plan.check()
    plan.finish()
    assert outside.read_text() == "keep" and (out / "mine.txt").read_text() == "keep too"


@pytest.mark.parametrize(
    "declare, message",
    [
        (lambda p, t: p.file(str(t / "out" / "a.txt"), "--json"), r"^--out .*a\.txt is the same place as --json"),
        (lambda p, t: p.input(str(t / "out" / "b.txt"), "--data"), r"^--data .*also an output \(--out"),
        (lambda p, t: p.file(str(t / "out"), "--json"), r"^--json .*is a folder"),
        (lambda p, t: p.file(str(t / "file" / "x.json"), "--json"), r"^--json .*file, not a folder"),
        (lambda p, t: p.file(str(t / MANIFEST), "--json"), r"^--json .*record of a folder's outputs"),
    ],
)
def test_conflicting_places_are_refused_naming_the_flag(tmp_path, declare, message):
    (tmp_path / "out").mkdir()
    (tmp_path / "file").write_text("x")
    plan = _plan(tmp_path)
    declare(plan, tmp_path)
    with pytest.raises(ValueError, match=message):
        plan.check()


def test_an_input_the_previous_run_listed_is_refused(tmp_path):
    first = _plan(tmp_path)
    first.write("b.txt", _text(b"samples"))
    first.finish()
    plan = _plan(tmp_path, names=("a.txt",))  # b.txt would be cleared as stale
    plan.input(str(tmp_path / "out" / "b.txt"), "--data")
    with pytest.raises(ValueError, match=r"^--data .*previous run"):
        plan.check()


def test_an_unwritable_place_is_refused_by_trying_it(tmp_path):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "o"
    else:  # root writes into a folder of any mode; /sys takes no new files
        target = "/sys/tinygan-test/o"
    plan = OutputPlan()
    plan.folder(str(target), ["a.txt"])
    with pytest.raises(ValueError, match=r"^--out .*cannot write into"):
        plan.check()


def test_new_files_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f", _text(b"x"))
    finally:
        os.umask(mask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_a_fifo_or_device_is_never_an_output_even_forced(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for force in (False, True):
        plan = OutputPlan(force=force)
        plan.file(str(fifo), "--json", ours=lambda path: False)
        with pytest.raises(ValueError, match=r"--json .*pipe.json is a FIFO \(named pipe\), not a regular file"):
            plan.check()  # returns at once: nothing opens the FIFO
        device = OutputPlan(force=force)
        device.file("/dev/null", "--json")
        with pytest.raises(ValueError, match="--json /dev/null is a device, not a regular file"):
            device.check()
    os.mkfifo(tmp_path / "a.txt")
    plan = OutputPlan(force=True)
    plan.folder(str(tmp_path), ["a.txt"])
    with pytest.raises(ValueError, match=r"--out .*a.txt is a FIFO"):
        plan.check()
