"""Atomic writes: the old file survives a failed write; new files get the usual permissions."""

from __future__ import annotations

import os

import pytest

from rnnkit.io import write_atomic, write_json, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    write_json(path, {"accuracy": 0.8})

    def broken(tmp):
        tmp.write_text("{half", encoding="utf-8")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_atomic(path, broken)
    assert path.read_text(encoding="utf-8").startswith("{\n  \"accuracy\": 0.8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "config.yaml", "task: sentiment\n")
    finally:
        os.umask(old)
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o644
