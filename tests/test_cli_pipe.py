"""A closed pipe on stdout ends a command quietly (exit 141), not with a traceback."""

from __future__ import annotations

import subprocess
import sys


def test_data_list_into_closed_pipe_is_quiet() -> None:
    # `rnnkit data list | head -1`: here the reader (`true`) exits before anything is written.
    script = (
        f"{sys.executable} -m rnnkit data list | true; "
        'echo "rc=${PIPESTATUS[0]}"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    assert "BrokenPipeError" not in out.stderr, out.stderr
    assert out.stdout.strip() in {"rc=0", "rc=141"}, out.stdout
