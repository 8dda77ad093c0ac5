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
