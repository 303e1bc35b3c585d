"""``rnnkit info`` says which backends can run here, fused included, and why not."""

from __future__ import annotations

import json

from rnnkit import fused
from rnnkit.tools.cli import main


def test_info_lists_every_backend_and_fused_available(capsys) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"reference", "bptt", "native", "fused"} <= set(info["backends"])
    assert info["backends"]["fused"]["status"] == "available", fused.unavailable_reason()
    assert info["backends"]["fused"]["families"] == ["gru", "lstm", "rnn_relu", "rnn_tanh"]
    assert info["fused_build"]["torch"] == info["torch"]
    assert info["threads"]["torch"] >= 1
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "fused      available" in text and "C++ compiler:" in text


def test_info_says_why_fused_is_unavailable(capsys, monkeypatch) -> None:
    monkeypatch.setenv(fused.DISABLE_ENV, "1")
    assert main(["info"]) == 0
    assert "fused      unavailable: disabled by the environment variable" in capsys.readouterr().out
