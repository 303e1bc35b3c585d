"""Distributed data-parallel training (rnnkit.distributed): sharding math in-process, then
real 2-process gloo runs under torchrun that must equal one process in float64.

Every launched process is small (a few batches) and bounded: the collectives time out
after RNNKIT_DIST_TIMEOUT seconds and each launch is killed after LAUNCH_TIMEOUT_S.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from rnnkit import distributed, runs
from rnnkit.data.batch import Batch
from rnnkit.distributed import context
from rnnkit.errors import RnnkitError

HERE = Path(__file__).parent
WORKER = HERE / "ddp_worker.py"
LAUNCH_TIMEOUT_S = 240  # a 2-process run takes ~10 s; this only stops a hang
ROOT = HERE.parent


def env() -> dict[str, str]:
    """The environment of launched processes: this checkout first, short timeouts."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e[context.TIMEOUT_VAR] = "120"  # far above a tiny run under load; a dead peer is seen at once
    e["OMP_NUM_THREADS"] = "1"
    for name in context.ENV_VARS:  # never inherit a distributed job's identity
        e.pop(name, None)
    return e


def launch(args: list[str], nproc: int) -> subprocess.CompletedProcess[str]:
    """``ddp_worker.py ARGS`` under torchrun with ``nproc`` ranks (a standalone rendezvous:
    torchrun picks a free port)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "--max-restarts=0", str(WORKER), *args]  # fmt: skip
    return subprocess.run(
        cmd, env=env(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S, cwd=ROOT
    )


def in_process(args: list[str]) -> None:
    """``ddp_worker.py ARGS`` in this process (the one-process reference, float64)."""
    import ddp_worker

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank has (torchrun's OMP_NUM_THREADS=1): no contention
    try:
        assert ddp_worker.main(args) == 0
    finally:
        torch.set_num_threads(threads)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def assert_same_weights(a: Path, b: Path, tol: float = 1e-10) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == torch.float64, k
        diff = float((wa[k] - wb[k]).abs().max())
        assert diff < tol, f"{k}: the DDP weights differ by {diff:g}"


# ----------------------------------------------------------------------------- in-process


def test_shard_rows_are_strided_and_cover_the_batch_once():
    parts = [distributed.shard_rows(7, r, 3).tolist() for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    with pytest.raises(ValueError, match="rank 3"):
        distributed.shard_rows(7, 3, 3)


def test_shard_batch_takes_every_tensor_row_wise():
    x = torch.arange(5 * 4).view(5, 4)
    batch = Batch(x, torch.tensor([4, 3, 2, 4, 1]), torch.arange(5), extras={"k": x * 10})
    shard, weight = distributed.shard_batch(batch, 1, 2)
    assert shard.inputs.tolist() == x[[1, 3]].tolist()
    assert shard.lengths.tolist() == [3, 4] and shard.targets.tolist() == [1, 3]
    assert shard.extras["k"].tolist() == (x[[1, 3]] * 10).tolist()
    assert weight == pytest.approx(2 * 2 / 5)
    assert distributed.shard_batch(batch, 0, 1) == (batch, 1.0)
    # fewer rows than ranks: the rank left out trains on row 0 with weight 0
    one = Batch(x[:1], torch.tensor([4]), torch.arange(1))
    assert distributed.shard_batch(one, 0, 2)[1] == 1.0 * 2
    empty, w = distributed.shard_batch(one, 1, 2)
    assert w == 0.0 and len(empty) == 1


@pytest.mark.parametrize("n", [8, 5, 1])
def test_weighted_shard_gradients_average_to_the_whole_batch_gradient(n):
    # what DDP computes: the mean over ranks of each rank's weighted loss gradient
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    x, y = torch.randn(n, 3, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    batch = Batch(x, torch.ones(n, dtype=torch.int64), y)

    def grad(b: Batch, weight: float = 1.0) -> torch.Tensor:
        model.zero_grad()
        loss = ((model(b.inputs).squeeze(-1) - b.targets) ** 2).mean()
        (loss * weight).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    world = 3
    averaged = sum(grad(*distributed.shard_batch(batch, r, world)) for r in range(world)) / world
    torch.testing.assert_close(averaged, grad(batch), rtol=0, atol=1e-14)


def test_one_process_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup(torch.device("cpu"))
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.enabled) == (0, 1, True, False)
    t = torch.tensor([2.0])
    assert distributed.all_reduce_sum(t) is t and float(t) == 2.0
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.any_rank(True) and not distributed.any_rank(False)


def test_an_incomplete_torchrun_environment_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RnnkitError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set"):
        distributed.setup(torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(RnnkitError, match="WORLD_SIZE='two': expected an integer"):
        distributed.setup(torch.device("cpu"))


@pytest.mark.parametrize("raw", ["0", "-3", "soon"])
def test_a_bad_timeout_is_refused(monkeypatch, raw):
    monkeypatch.setenv(context.TIMEOUT_VAR, raw)
    with pytest.raises(RnnkitError, match="RNNKIT_DIST_TIMEOUT=.*: expected a positive number"):
        context.timeout_s()


def test_cuda_ranks_take_their_local_gpu():
    ctx = distributed.DistContext(rank=3, world_size=4, local_rank=1, backend="nccl")
    assert ctx.device_for(torch.device("cuda")) == torch.device("cuda", 1)
    assert ctx.device_for(torch.device("cpu")) == torch.device("cpu")
    assert distributed.DistContext().device_for(torch.device("cuda")) == torch.device("cuda")


def test_a_global_batch_smaller_than_the_world_is_refused(tmp_path, monkeypatch):
    from rnnkit.tasks import get_task_class
    from rnnkit.tasks.resolve import resolve_config
    from rnnkit.training import fit

    monkeypatch.setattr(context, "_CURRENT", distributed.DistContext(0, 4, 0, "gloo"))
    cfg = resolve_config("adding", overrides=["train.batch_size=3"])
    with pytest.raises(RnnkitError, match="train.batch_size=3 is smaller than the 4 processes"):
        fit(get_task_class("adding")(cfg), tmp_path, verbose=False)


# ----------------------------------------------------------------------------- 2 processes

ADDING = ["train", "adding", "--epochs", "1", "--set", "data.length=8", "data.train_size=40",
          "data.val_size=8", "data.test_size=8", "train.batch_size=8", "model.hidden_size=6",
          "train.progress=false", "train.tensorboard=false"]  # fmt: skip
TEXT = "It was the best of times, it was the worst of times.\n" * 10


def charlm(text: Path) -> list[str]:
    return ["train", "charlm", "--data", str(text), "--epochs", "1", "--set", "data.bptt=8",
            "train.batch_size=4", "model.hidden_size=8", "train.progress=false",
            "train.tensorboard=false"]  # fmt: skip


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One torchrun launch of 2 gloo ranks training ``adding`` then ``charlm`` (one launch
    for both: starting the processes is most of the cost)."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "tiny.txt").write_text(TEXT)
    args = [*ADDING, "--out", str(root / "adding"), "--then",
            *charlm(root / "tiny.txt"), "--out", str(root / "charlm")]  # fmt: skip
    done = launch(args, 2)
    assert done.returncode == 0, done.stderr
    return root, done


def test_two_gloo_ranks_equal_one_process_at_the_global_batch(tmp_path, ddp_runs):
    # 2 ranks at per-rank batch 4 (train.batch_size is the global batch, 8) == 1 process
    # at batch 8, in float64: the same weights, the same epoch metrics
    root, done = ddp_runs
    in_process([*ADDING, "--out", str(tmp_path / "one")])
    assert_same_weights(tmp_path / "one", root / "adding")
    report = json.loads((root / "adding" / "report.json").read_text())
    assert report["distributed"] == {"world_size": 2, "backend": "gloo"}
    rows = [
        json.loads((d / "metrics.jsonl").read_text()) for d in (tmp_path / "one", root / "adding")
    ]
    for key in ("train.loss", "val.loss", "grad_norm_max", "steps"):
        assert rows[1][key] == pytest.approx(rows[0][key], rel=1e-12), key
    # rank 0 alone prints, and nothing but the run directories was written
    assert done.stdout.count("run directory:") == 2 and done.stdout.count("epoch 1/1") == 2
    assert sorted(p.name for p in root.iterdir()) == ["adding", "charlm", "tiny.txt"]


def test_charlm_streams_are_sharded_per_rank_and_match_one_process(tmp_path, ddp_runs):
    # each rank trains its own TBPTT streams (2 of the 4), carrying their state
    root, _ = ddp_runs
    in_process([*charlm(root / "tiny.txt"), "--out", str(tmp_path / "one")])
    assert_same_weights(tmp_path / "one", root / "charlm")


def test_the_same_processes_join_a_new_group_after_leaving_one():
    # rnnkit train twice in one process (ddp_worker's --then) under one torchrun agent:
    # the second group must not read the addresses the first one left in the agent's store
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node=2", "--max-restarts=0", str(HERE / "ddp_rejoin.py")]  # fmt: skip
    done = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(re.findall(r"rejoined (\d)", done.stdout)) == ["0", "1"], done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_nodes_on_loopback_equal_one_node(tmp_path, ddp_runs):
    # two torchrun invocations, --nnodes 2 with one process each, rendezvous on 127.0.0.1
    root, _ = ddp_runs
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}",
           f"--rdzv-id=loopback-{os.getpid()}", "--max-restarts=0", str(WORKER),
           *ADDING, "--out", str(tmp_path / "nodes")]  # fmt: skip
    nodes = [subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    try:
        outs = [node.communicate(timeout=LAUNCH_TIMEOUT_S) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], outs
    assert_same_weights(tmp_path / "nodes", root / "adding", tol=1e-12)
    assert sum(out.count("run directory:") for out, _ in outs) == 1  # rank 0 only


@pytest.fixture
def worker_env(monkeypatch):
    """The environment of workers that rnnkit.distributed.launch starts from this process."""
    for key, value in env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(HERE)]))
    for name in context.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


ADDING_3 = [a if a != "1" else "3" for a in ADDING]  # 3 epochs


def test_a_killed_worker_stops_the_job_with_a_clear_error(tmp_path, worker_env):
    from ddp_worker import EXIT_EPOCH, EXIT_RANK

    from rnnkit.distributed.launch import launch

    worker_env.setenv(EXIT_RANK, "1")
    worker_env.setenv(EXIT_EPOCH, "2")
    with pytest.raises(
        RnnkitError, match=r"--nproc 2: the distributed run failed \(rank 1 exit code 9"
    ):
        launch(2, [*ADDING_3, "--out", str(tmp_path / "run")], module="ddp_worker")
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in rows] == [1]  # the last checkpoint is epoch 1's


def test_an_elastic_restart_resumes_from_the_last_checkpoint(tmp_path, worker_env):
    # rank 1 dies when epoch 2 starts; torchrun (--max-restarts 1) restarts the group, which
    # resumes from epoch 1's checkpoint: the same weights as a run that never failed
    from ddp_worker import EXIT_EPOCH, EXIT_RANK

    from rnnkit.distributed.launch import launch

    worker_env.setenv(EXIT_RANK, "1")
    worker_env.setenv(EXIT_EPOCH, "2")
    launch(2, [*ADDING_3, "--out", str(tmp_path / "run")], max_restarts=1, module="ddp_worker")
    worker_env.delenv(EXIT_RANK)
    in_process([*ADDING_3, "--out", str(tmp_path / "straight")])
    assert_same_weights(tmp_path / "run", tmp_path / "straight")
    rows = runs.read_metrics(tmp_path / "run")
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_nproc_resumes_a_one_process_run_on_two(tmp_path, worker_env, capsys):
    # `rnnkit train --nproc 2` (torchrun's machinery, in-process) continues a checkpoint
    # written by one process: the world size may change on --resume (float32 here)
    from rnnkit.tools.cli import main

    args = [a for a in ADDING if a != "--epochs" and a != "1"]
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert main([*args, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "run"), "--resume",
                 "--nproc", "2"]) == 0  # fmt: skip
    wa, wb = weights(tmp_path / "run"), weights(tmp_path / "straight")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["distributed"]["world_size"] == 2 and report["epochs"] == 2


def test_nproc_is_checked_before_any_process_starts(tmp_path, capsys):
    from rnnkit.tools.cli import main

    assert main(["train", "adding", "--nproc", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--nproc: expected at least 1 process, got 0" in capsys.readouterr().err
    assert main(["train", "adding", "--nproc", "2", "--set", "train.lr=fast"]) == 2
    assert not (tmp_path / "r").exists()


def test_nproc_strips_only_its_own_option():
    from rnnkit.distributed.launch import strip_nproc

    argv = ["train", "adding", "--nproc", "2", "--set", "a=1", "--nproc=3", "--out", "x"]
    assert strip_nproc(argv) == ["train", "adding", "--set", "a=1", "--out", "x"]
