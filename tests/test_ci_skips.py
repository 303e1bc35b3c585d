"""Under CI a skipped test fails (root conftest.py); locally it stays skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_skipping_test(
    tmp_path: Path, ci: str, module_level: bool = False
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    body = """
        import pytest

        def test_needs_data():
            pytest.skip("data package missing")
        """
    if module_level:  # the whole module: an optional import that is not installed
        body = """
        import pytest

        missing = pytest.importorskip("rnnkit_no_such_package")

        def test_needs_it():
            assert missing
        """
    (tmp_path / "test_skip.py").write_text(textwrap.dedent(body))
    env = {**os.environ, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_skip_fails_under_ci(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "skipped under CI" in result.stdout
    assert "data package missing" in result.stdout


def test_skip_stays_skip_locally(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_a_module_skipped_at_collection_fails_under_ci(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "true", module_level=True)
    assert result.returncode != 0, result.stdout
    assert "skipped under CI" in result.stdout and "rnnkit_no_such_package" in result.stdout
    local = _run_skipping_test(tmp_path, "", module_level=True)
    assert local.returncode in (0, 5) and "1 skipped" in local.stdout, local.stdout  # 5: none ran
