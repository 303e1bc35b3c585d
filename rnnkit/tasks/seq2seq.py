"""What ``translate`` and ``g2p`` share: pairs -> vocabularies -> batches -> an
encoder-decoder with attention (:mod:`rnnkit.models.seq2seq`) -> decoded outputs scored
against references.

A subclass says where its pairs come from (:meth:`Seq2SeqTask.load_examples`), how each
side becomes ids (:meth:`Seq2SeqTask.fit_vocabs`), how a decoded output is shown
(:meth:`Seq2SeqTask.render`) and scored (:meth:`Seq2SeqTask.score`), and its baselines.

Training reads teacher-forced targets with label smoothing; ``data.teacher_forcing`` ->
``data.teacher_forcing_final`` is a linear schedule over the epochs (scheduled sampling
below 1). Validation decodes greedily every epoch; the test split and ``predict`` use beam
search (``data.beam_size``, ``data.length_penalty``).

The run directory gets ``source_vocab.json``, ``target_vocab.json`` and ``pairs.json``
(split sizes and how the split was made).

The options of the encoder-decoder (attention, decoder cell, beam) sit in the ``data``
section until per-task model sections exist.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from rnnkit.config import option
from rnnkit.data.batch import Batch
from rnnkit.data.batching import BucketedBatches
from rnnkit.data.seqvocab import BOS_ID, EOS_ID, PAD_ID, SymbolVocab, Vocab, load_vocab
from rnnkit.errors import RnnkitError
from rnnkit.io import write_json
from rnnkit.models.seq2seq import ATTENTIONS, DECODER_CELLS, Decoded, Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.base import Task

if TYPE_CHECKING:
    from rnnkit.tasks.explaining import ExplainInput

SOURCE_VOCAB, TARGET_VOCAB, PAIRS_INFO = "source_vocab.json", "target_vocab.json", "pairs.json"
SPLITS = ("train", "val", "test")


@dataclass
class Seq2SeqData:
    """The ``data`` options every sequence-to-sequence task has."""

    val_fraction: float = option(0.05, "share of distinct sources held out for validation")
    test_fraction: float = option(0.1, "share of distinct sources held out for testing")
    max_length: int = option(
        50, "tokens per side: longer training pairs are dropped; decoding limit"
    )
    attention: str = option("bahdanau", "bahdanau (additive) | luong (multiplicative)")
    decoder_cell: str = option(
        "", "lstm | gru; empty = model.cell when it is one of them, else lstm"
    )
    beam_size: int = option(4, "beam width on the test split and in predict (1 = greedy)")
    length_penalty: float = option(1.0, "beam search ranks by log p / length ** this")
    label_smoothing: float = option(0.1, "label smoothing of the training cross-entropy")
    teacher_forcing: float = option(1.0, "first epoch: share of steps fed the true previous token")
    teacher_forcing_final: float = option(1.0, "last epoch's share (linear in between)")
    bucket_batches: int = option(50, "batches per length-sorted chunk (1 = plain random batches)")


@dataclass
class Example:
    """One source and its targets: ``target`` is trained on, ``refs`` are scored against
    (g2p: every pronunciation of the word; translate: the one reference)."""

    source: Any
    target: Any
    refs: list[Any] = field(default_factory=list)


class Seq2SeqTask(Task):
    """Base of the encoder-decoder tasks; see the module docstring."""

    capabilities = frozenset({"evaluate", "predict", "explain"})
    ModelConfig = Seq2SeqConfig
    explain_help = "a source text: its output, attributions and attention matrix"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.source_vocab: Vocab | None = None
        self.target_vocab: Vocab | None = None
        self.examples: dict[str, list[Example]] = {}
        self._encoded: dict[str, tuple[list[list[int]], list[list[int]]]] = {}
        self._epoch = 0
        self.teacher_forcing = cfg.data.teacher_forcing
        self._check_config()

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def load_examples(self) -> dict[str, list[Example]]:
        """The examples of each split; in ``train`` one example per (source, target)."""

    @abstractmethod
    def fit_vocabs(self, train: list[Example]) -> tuple[Vocab, Vocab]:
        """The source and target vocabularies, fitted on the training examples only."""

    @abstractmethod
    def render(self, ids: Sequence[int]) -> Any:
        """A decoded output in the form of ``Example.refs`` (text, phoneme tuple ...)."""

    @abstractmethod
    def score(self, outputs: list[Any], examples: list[Example]) -> dict[str, float]:
        """The task's metrics of rendered ``outputs`` against the examples' refs."""

    def show(self, output: Any) -> str:
        """A rendered output as the one line ``predict`` prints."""
        return output if isinstance(output, str) else " ".join(output)

    # ------------------------------------------------------------------ config
    def _check_config(self) -> None:
        d = self.cfg.data
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(d, key) < 0.5:
                raise RnnkitError(
                    f"data.{key}: expected a value in (0, 0.5), got {getattr(d, key)}"
                )
        for key in ("teacher_forcing", "teacher_forcing_final"):
            if not 0.0 <= getattr(d, key) <= 1.0:
                raise RnnkitError(f"data.{key}: expected a value in [0, 1], got {getattr(d, key)}")
        if d.attention not in ATTENTIONS:
            raise RnnkitError(
                f"data.attention: {d.attention!r} is not one of {', '.join(ATTENTIONS)}"
            )
        if d.decoder_cell not in ("", *DECODER_CELLS):
            raise RnnkitError(
                f"data.decoder_cell: {d.decoder_cell!r} is not one of {', '.join(DECODER_CELLS)}"
            )
        if d.max_length < 1:
            raise RnnkitError(f"data.max_length: expected >= 1, got {d.max_length}")
        if d.beam_size < 1:
            raise RnnkitError(f"data.beam_size: expected >= 1, got {d.beam_size}")
        if not 0.0 <= d.label_smoothing < 1.0:
            raise RnnkitError(f"data.label_smoothing: expected [0, 1), got {d.label_smoothing}")
        if d.bucket_batches < 1:
            raise RnnkitError(f"data.bucket_batches: expected >= 1, got {d.bucket_batches}")

    # ------------------------------------------------------------------ data
    def prepare(self, run_dir: Path) -> None:
        """Read and split the pairs, fit both vocabularies on the training split, save them."""
        self.examples = self.load_examples()
        for split in SPLITS:
            if not self.examples.get(split):
                raise RnnkitError(
                    f"the {split} split is empty; give more pairs or a larger data.{split}_fraction"
                )
        self.source_vocab, self.target_vocab = self.fit_vocabs(self.examples["train"])
        run_dir = Path(run_dir)
        self.source_vocab.save(run_dir / SOURCE_VOCAB)
        self.target_vocab.save(run_dir / TARGET_VOCAB)
        sizes = {s: len(self.examples[s]) for s in SPLITS}
        kept = len(self._split_ids("train")[0])
        if kept == 0:
            raise RnnkitError(
                f"every training pair is longer than data.max_length={self.cfg.data.max_length}"
            )
        write_json(
            run_dir / PAIRS_INFO,
            {"data": self.describe_data(), "sizes": sizes, "train_kept": kept},
        )

    def restore(self, run_dir: Path) -> None:
        """The saved vocabularies; the pairs are read again only when a split is asked for."""
        run_dir = Path(run_dir)
        self.source_vocab = load_vocab(run_dir / SOURCE_VOCAB)
        self.target_vocab = load_vocab(run_dir / TARGET_VOCAB)
        if not (run_dir / PAIRS_INFO).is_file():
            raise RnnkitError(f"run directory {run_dir}: {PAIRS_INFO} is missing")
        try:
            json.loads((run_dir / PAIRS_INFO).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RnnkitError(f"{run_dir / PAIRS_INFO} is not valid JSON ({e})") from None

    def _examples(self, split: str) -> list[Example]:
        if split not in SPLITS:
            raise RnnkitError(f"split {split!r}: expected train, val or test")
        if not self.examples:
            self.examples = self.load_examples()
        return self.examples[split]

    def _split_ids(self, split: str) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of ``split``; training pairs longer than max_length dropped."""
        if split not in self._encoded:
            examples = self._examples(split)
            source_vocab, target_vocab = self._vocabs()
            src = source_vocab.encode([e.source for e in examples])
            tgt = target_vocab.encode([e.target for e in examples])
            if split == "train":
                limit = self.cfg.data.max_length
                keep = [i for i in range(len(src)) if len(src[i]) <= limit and len(tgt[i]) <= limit]
                src, tgt = [src[i] for i in keep], [tgt[i] for i in keep]
            self._encoded[split] = (src, tgt)
        return self._encoded[split]

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterable[Batch]:
        """Batches bucketed by source length: ``inputs (B, S)`` source ids, ``targets (B, T)``
        ``y + [EOS]``, ``extras["tgt_in"] (B, T)`` ``[BOS] + y`` and ``extras["index"]``."""
        src, tgt = self._split_ids(split)
        return PairBatches(
            src,
            tgt,
            batch_size=self.cfg.train.batch_size,
            shuffle=shuffle,
            generator=generator,
            bucket_batches=self.cfg.data.bucket_batches,
        )

    def split_size(self, split: str) -> int:
        return len(self._split_ids(split)[0])

    # ------------------------------------------------------------------ model
    def _vocabs(self) -> tuple[Vocab, Vocab]:
        """The source and target vocabularies (refused before prepare or restore)."""
        if self.source_vocab is None or self.target_vocab is None:
            raise RnnkitError("the vocabularies are not loaded (call prepare or restore first)")
        return self.source_vocab, self.target_vocab

    def build_model(self) -> nn.Module:
        source_vocab, target_vocab = self._vocabs()
        return Seq2Seq.from_config(
            cast(Seq2SeqConfig, self.cfg.model),
            source_vocab.size,
            target_vocab.size,
            attention=self.cfg.data.attention,
            decoder_cell=self.cfg.data.decoder_cell,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
        )

    def on_epoch_start(self, model: nn.Module, split: str) -> None:
        """Sets this epoch's teacher-forcing ratio (a linear schedule over the epochs)."""
        if split != "train":
            return
        d, epochs = self.cfg.data, max(self.cfg.train.epochs - 1, 1)
        progress = min(self._epoch / epochs, 1.0)
        self.teacher_forcing = (
            d.teacher_forcing + (d.teacher_forcing_final - d.teacher_forcing) * progress
        )
        self._epoch += 1

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Teacher-forced cross-entropy per target token (no label smoothing)."""
        logits, _ = model(batch.inputs, batch.lengths, batch.extras["tgt_in"])
        return cast(Seq2Seq, model).loss(logits, batch.required_targets())

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits, _ = model(
            batch.inputs,
            batch.lengths,
            batch.extras["tgt_in"],
            teacher_forcing=self.teacher_forcing,
        )
        smoothing = self.cfg.data.label_smoothing
        return cast(Seq2Seq, model).loss(
            logits, batch.required_targets(), label_smoothing=smoothing
        )

    def set_decoding(
        self, beam_size: int | None = None, length_penalty: float | None = None
    ) -> None:
        """Decode ``predict`` / ``explain`` / the test split with another beam width
        (1 = greedy) or length penalty than the run was trained with (``rnnkit translate
        --beam-size``); None keeps the run's ``data.beam_size`` / ``data.length_penalty``."""
        if beam_size is not None:
            if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
                raise RnnkitError(f"beam size: expected an integer >= 1, got {beam_size!r}")
            self.cfg.data.beam_size = beam_size
        if length_penalty is not None:
            if not 0.0 <= length_penalty <= 10.0:
                raise RnnkitError(f"length penalty: expected 0 to 10, got {length_penalty}")
            self.cfg.data.length_penalty = float(length_penalty)

    def decode(
        self, model: Seq2Seq, src: torch.Tensor, lengths: torch.Tensor, beam: int
    ) -> Decoded:
        """Greedy (``beam`` 1) or beam-search outputs of a batch of sources."""
        limit = self.cfg.data.max_length
        if beam == 1:
            return model.greedy(src, lengths, max_length=limit)
        return model.beam_search(
            src,
            lengths,
            max_length=limit,
            beam_size=beam,
            length_penalty=self.cfg.data.length_penalty,
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """``loss`` (teacher-forced, per target token) and the task's scores of the decoded
        outputs: greedy on validation, beam search (``data.beam_size``) on test."""
        device = next(model.parameters()).device
        beam = 1 if split != "test" else self.cfg.data.beam_size
        examples = self._examples(split)
        outputs: list[Any] = [None] * len(examples)
        total = count = 0.0
        for batch in self.batches(split):
            batch = batch.to(device)
            s2s, targets = cast(Seq2Seq, model), batch.required_targets()  # (B, T')
            logits, _ = s2s(batch.inputs, batch.lengths, batch.extras["tgt_in"])
            total += float(s2s.loss(logits, targets, reduction="sum"))
            count += int((targets != PAD_ID).sum())
            decoded = self.decode(s2s, batch.inputs, batch.lengths, beam)
            for i, tokens in zip(batch.extras["index"].tolist(), decoded.tokens):
                outputs[i] = self.render(tokens)
        return {"loss": total / max(count, 1), **self.score(outputs, examples)}

    # ------------------------------------------------------------------ predict
    def encode_inputs(self, inputs: Sequence[str]) -> list[Any]:
        """Raw ``predict`` inputs as sources (default: the stripped text)."""
        return [text.strip() for text in inputs]

    def input_cuts(self, inputs: Sequence[str]) -> list[str]:
        """A note for each source longer than ``data.max_length`` (longer than any training
        source, and the decoder stops at that many output tokens), else ``""``."""
        limit = self.cfg.data.max_length
        if self.source_vocab is None:  # not prepared or restored: predict refuses it
            return [""] * len(inputs)
        ids = self.source_vocab.encode(self.encode_inputs(list(inputs)))
        return [
            f"{len(s)} tokens, longer than any training source (data.max_length={limit}); "
            f"the output stops at {limit} tokens"
            if len(s) > limit
            else ""
            for s in ids
        ]

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """The beam-search output of each input: ``{"output": str, "score": log p / len^a,
        "attention": [[...], ...] (output tokens + EOS) x source tokens}``."""
        for i, text in enumerate(inputs):
            if not isinstance(text, str) or not text.strip():
                raise RnnkitError(f"input {i + 1} is empty; expected a text to convert")
        if not inputs:
            return []
        device = next(model.parameters()).device
        ids = self._vocabs()[0].encode(self.encode_inputs(inputs))
        out: list[dict[str, Any] | None] = [None] * len(inputs)
        for batch in BucketedBatches(ids, batch_size=self.cfg.train.batch_size):
            decoded = self.decode(
                cast(Seq2Seq, model),
                batch.inputs.to(device),
                batch.lengths,
                self.cfg.data.beam_size,
            )
            for row, i in enumerate(batch.extras["index"].tolist()):
                out[i] = {
                    "output": self.show(self.render(decoded.tokens[row])),
                    "score": decoded.scores[row],
                    "attention": [[round(float(w), 4) for w in r] for r in decoded.attention[row]],
                }
        return [o for o in out if o is not None]

    # ------------------------------------------------------------------ explain
    def source_labels(self, ids: Sequence[int]) -> list[str]:
        """The source tokens of ``ids`` as the report labels them (sub-words, letters)."""
        vocab = self.source_vocab
        if isinstance(vocab, SymbolVocab):
            return [vocab.symbols[i] for i in ids]
        assert vocab is not None
        return vocab.tokens(ids)

    def target_labels(self, ids: Sequence[int]) -> list[str]:
        """The output tokens of ``ids`` and a final ``[EOS]`` (the attention rows)."""
        vocab = self.target_vocab
        if isinstance(vocab, SymbolVocab):
            labels = [vocab.symbols[i] for i in ids]
        else:
            assert vocab is not None
            labels = vocab.tokens(ids)
        return [*labels, "[EOS]"]

    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """``spec`` (a source text) decoded as in ``predict``; explained is the log-probability
        of that output, ``sum_t log p(y_t | y_<t, x)`` (EOS included), over the source token
        embeddings against zero (padding) embeddings; the figures add the attention matrix."""
        import torch.nn.functional as F

        from rnnkit.tasks.explaining import ExplainInput, device_of

        if not isinstance(spec, str) or not spec.strip():
            raise RnnkitError("INPUT is empty; expected a source text to explain")
        if self.source_vocab is None:
            raise RnnkitError("the vocabularies are not loaded (call prepare or restore first)")
        if not isinstance(model, Seq2Seq):
            raise RnnkitError(f"expected the task's Seq2Seq model, got {type(model).__name__}")
        device = device_of(model)
        ids = self.source_vocab.encode(self.encode_inputs([spec]))[0]
        src = torch.tensor([ids], dtype=torch.int64, device=device)  # (1, S)
        lengths = torch.tensor([len(ids)], dtype=torch.int64)  # (1,)
        decoded = self.decode(model, src, lengths, self.cfg.data.beam_size)
        out = decoded.tokens[0]
        tgt_in = torch.tensor([[BOS_ID, *out]], device=device)  # (1, T)
        tgt_out = torch.tensor([[*out, EOS_ID]], device=device)  # (1, T)

        def log_prob(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            """``x (N, S, E)`` source embeddings -> ``(N,)`` log p(output | x)."""
            n = len(x)
            logits, _ = model(
                src.expand(n, -1), lengths.expand(n), tgt_in.expand(n, -1), embedded=x
            )
            logp = F.log_softmax(logits.float(), -1)  # (N, T, V)
            return logp.gather(2, tgt_out.expand(n, -1)[..., None]).squeeze(-1).sum(1)

        with torch.no_grad():
            x = model.src_embedding(src).detach()  # (1, S, E)
        labels = self.source_labels(ids)
        shown = self.show(self.render(out))
        title = f"Attention: {shown if len(shown) <= 60 else shown[:59] + '…'}"
        attention = {
            "source": labels,
            "output": self.target_labels(out),
            "weights": decoded.attention[0],
            "title": title,
        }
        return ExplainInput(
            fn=log_prob,
            x=x,
            baseline=torch.zeros_like(x),
            extra=(lengths,),
            run=lambda: model.encode(src, lengths),
            prediction=f"{shown}  (score {decoded.scores[0]:.3f})",
            target="log-probability of the output",
            baseline_desc="zero (padding) embeddings",
            step_kind="token",
            step_labels=labels,
            attention=attention,
        )

    def format_prediction(self, input: str, prediction: dict[str, Any]) -> str:
        """``<output>`` alone: the translation or the pronunciation."""
        return str(prediction["output"])


class PairBatches:
    """Padded batches of (source ids, target ids) pairs, bucketed by source length
    (:class:`~rnnkit.data.batching.BucketedBatches` orders them); re-iterable."""

    def __init__(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        **bucketing: Any,
    ) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        self.sources = BucketedBatches(sources, **bucketing)
        self.targets = targets

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.sources:
            idx = batch.extras["index"]
            tgt = [self.targets[i] for i in idx.tolist()]
            width = max(len(t) for t in tgt) + 1
            tgt_in = torch.full((len(tgt), width), PAD_ID, dtype=torch.int64)  # (B, T)
            tgt_out = torch.full((len(tgt), width), PAD_ID, dtype=torch.int64)
            for row, t in enumerate(tgt):
                tgt_in[row, : len(t) + 1] = torch.tensor([BOS_ID, *t])
                tgt_out[row, : len(t) + 1] = torch.tensor([*t, EOS_ID])
            yield Batch(
                inputs=batch.inputs,
                lengths=batch.lengths,
                targets=tgt_out,
                extras={"tgt_in": tgt_in, "index": idx},
            )
