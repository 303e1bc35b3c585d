"""Character language model: the task's data, TBPTT state carry, evaluation and generation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from rnnkit.config import RunConfig, TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig, generate_ids
from rnnkit.tasks.charlm import CharLMData, CharLMTask
from rnnkit.training.callbacks import gradflow_callbacks

TEXT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind\n" * 6


def _task(tmp_path, source, gradflow=False, **data) -> CharLMTask:
    cfg = RunConfig(
        task="charlm",
        data=CharLMData(source=str(source), **data),
        model=LanguageModelConfig(hidden_size=8, num_layers=1, embedding_dim=4),
        train=TrainConfig(batch_size=2, gradflow=gradflow),
    )
    task = CharLMTask(cfg)
    task.prepare(tmp_path / "run")
    return task


def _corpus(tmp_path, *docs: str):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i, doc in enumerate(docs):
        (folder / f"{i}.txt").write_text(doc, encoding="utf-8")
    return folder


def test_prepare_saves_vocab_and_splits_by_position(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, TEXT), bptt=10)
    assert (tmp_path / "run" / "vocab.json").is_file()
    sizes = {k: len(v) for k, v in task.splits.items()}
    assert sizes == {"train": 405, "val": 22, "test": 23}  # 90% / 5% / 5% of 450, in order
    decoded = "".join(task.vocab.decode(task.splits[s].ids) for s in ("train", "val", "test"))
    assert decoded == TEXT


def test_document_boundaries_reset_the_streams(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, TEXT[:200], TEXT[:150]), bptt=10)
    assert task.splits["train"].doc_starts.tolist() == [200]
    resets = torch.cat([b.extras["reset"] for b in task.batches("train")], 1)
    assert int(resets.sum()) == 1


def test_bptt_longer_than_the_training_data_is_refused(tmp_path):
    with pytest.raises(RnnkitError, match="data.bptt=500"):
        _task(tmp_path, _corpus(tmp_path, TEXT), bptt=500)


def test_bad_level_and_missing_source(tmp_path):
    with pytest.raises(RnnkitError, match="data.level"):
        _task(tmp_path, _corpus(tmp_path, TEXT), level="word")
    with pytest.raises(RnnkitError, match="neither a built-in corpus"):
        _task(tmp_path, tmp_path / "missing.txt")


def test_training_steps_carry_the_state_of_each_stream(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, TEXT), bptt=7)
    torch.manual_seed(0)
    model = task.build_model()
    task.on_epoch_start(model, "train")
    batches = list(task.batches("train"))[:3]
    losses = [task.training_step(model, b) for b in batches]
    # the same three chunks in one pass from zeros give the same logits, hence the same loss
    ids = torch.cat([b.inputs for b in batches], 1)
    targets = torch.cat([b.targets for b in batches], 1)
    logits, _ = model(ids)
    per_chunk = [LanguageModel.loss(c, t) for c, t in zip(logits.split(7, 1), targets.split(7, 1))]
    torch.testing.assert_close(torch.stack(losses), torch.stack(per_chunk))
    assert task.carry.state[0].grad_fn is None  # detached between chunks


def test_evaluate_carries_state_across_the_whole_split(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, TEXT), bptt=5)
    torch.manual_seed(0)
    model = task.build_model().eval()
    metrics = task.evaluate(model, "val")
    ids = task.splits["val"].ids
    logits, _ = model(ids[None, :-1])
    nats = LanguageModel.loss(logits, ids[None, 1:]).item()
    assert metrics["loss"] == pytest.approx(nats, rel=1e-5)
    assert metrics["bpc"] == pytest.approx(nats / math.log(2), rel=1e-5)


def test_byte_level_and_baselines(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, "héllo wörld. " * 30), level="byte", bptt=5)
    assert len(task.vocab) == 256
    base = task.baselines()
    assert base["bigram_add_one"]["bpc"] < base["unigram"]["bpc"]


def test_generation_reads_the_prime_once_then_steps(tmp_path):
    torch.manual_seed(0)
    model = LanguageModel(torch.nn.GRU(4, 6, batch_first=True), 6, 11, embedding_dim=4).eval()
    prime = torch.tensor([1, 2, 3])
    g = torch.Generator().manual_seed(0)
    out = generate_ids(model, prime, 5, temperature=0.0, generator=g)
    # the greedy continuation equals re-reading the whole prefix every step
    seq = prime.tolist()
    for _ in range(5):
        logits, _ = model(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    assert out.tolist() == seq[3:]
    a = generate_ids(model, prime, 20, generator=torch.Generator().manual_seed(1))
    b = generate_ids(model, prime, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    never = generate_ids(model, prime, 50, banned=[0], generator=torch.Generator().manual_seed(2))
    assert 0 not in never.tolist()
    with pytest.raises(ValueError, match="length must be >= 1"):
        generate_ids(model, prime, 0)


def test_gradflow_flag_records_the_first_chunk_of_each_epoch(tmp_path):
    task = _task(tmp_path, _corpus(tmp_path, TEXT), bptt=6, gradflow=True)
    torch.manual_seed(0)
    model = task.build_model()
    (callback,) = gradflow_callbacks(task, tmp_path / "run")
    session = SimpleNamespace(task=task, model=model)
    for epoch in (1, 2):
        task.on_epoch_start(model, "train")
        callback.on_epoch_start(session, epoch)
        for batch in list(task.batches("train"))[:2]:
            callback.on_batch_start(session, batch)
            task.training_step(model, batch).backward()
    lines = (tmp_path / "run" / "gradflow.jsonl").read_text().splitlines()
    assert len(lines) == 2  # one measurement per epoch, on its first chunk
    assert (tmp_path / "run" / "gradflow.png").is_file()
