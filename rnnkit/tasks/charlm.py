"""``rnnkit train charlm``: character-level (or byte-level) language modelling with
truncated BPTT.

The training text is cut into ``train.batch_size`` parallel streams consumed in chunks of
``data.bptt`` steps; the state is carried from chunk to chunk and detached (see
:mod:`rnnkit.data.streams`, :mod:`rnnkit.models.state`). Evaluation carries the state
across the whole split (``data.eval_streams`` streams; 1 reads it as one sequence). The
metric is bits per character (``bpc`` = nats / ln 2), or per byte at ``data.level=byte``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
from torch import nn

from rnnkit.config import option
from rnnkit.data.batch import Batch
from rnnkit.data.builtin import BUILTIN, package_file
from rnnkit.data.corpus import LEVELS, TextSplit, Vocab, encode_split, read_documents, split_text
from rnnkit.data.streams import IGNORE_INDEX, StreamBatches
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig, generate_ids
from rnnkit.models.state import StateCarry
from rnnkit.tasks.base import GRADFLOW_RENAMED, Task
from rnnkit.tasks.explaining import ExplainInput, char_model_input

if TYPE_CHECKING:
    from rnnkit.tune.space import Param

LN2 = math.log(2.0)


@dataclass
class CharLMData:
    """``data`` section of ``rnnkit train charlm``."""

    source: str = option("hamlet", "built-in corpus name, or a UTF-8 text file or folder of them")
    level: str = option("char", "char (one id per character) | byte (one id per UTF-8 byte)")
    bptt: int = option(128, "truncated-BPTT chunk length: steps per training batch")
    val_fraction: float = option(0.05, "the validation part, taken after the training part")
    test_fraction: float = option(0.05, "the test part, at the end of the text")
    eval_streams: int = option(1, "parallel streams for val/test (1 = the split as one sequence)")


class CharLMTask(Task):
    """Next-character prediction on a text corpus; the metric is bits per character."""

    name = "charlm"
    DataConfig = CharLMData
    ModelConfig = LanguageModelConfig
    renamed_keys = GRADFLOW_RENAMED
    model_defaults = {"cell": "lstm", "hidden_size": 256, "num_layers": 2, "embedding_dim": 64}
    train_defaults = {"batch_size": 32, "lr": 2e-3, "epochs": 20, "clip_norm": 5.0}
    monitor = "bpc"
    monitor_mode = "min"
    capabilities = frozenset({"evaluate", "explain", "generate", "export"})
    explain_help = "a text the model reads (the last 400 characters are used)"
    anchor: ClassVar[dict[str, Any] | None] = {
        "source": "char-rnn on tiny-shakespeare (Karpathy 2015): ~1.40 nats/char validation; "
        "an LSTM on Penn Treebank characters: 1.36 bpc",
        "tiny_shakespeare_val_nats_per_char": 1.40,
        "tiny_shakespeare_val_bpc": round(1.40 / LN2, 2),
        "ptb_char_lstm_bpc": 1.36,
    }

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.vocab: Vocab | None = None
        self.splits: dict[str, TextSplit] = {}
        self.carry = StateCarry()
        if cfg.data.source not in BUILTIN:  # the published figures are for Shakespeare / PTB
            self.anchor = None  # type: ignore[misc]  # a user's corpus: no published figure

    # ------------------------------------------------------------------ data
    @staticmethod
    def _resolve(source: str) -> Path:
        if source in BUILTIN:
            return package_file(source)
        path = Path(source)
        if not path.exists():
            raise RnnkitError(
                f"data.source {source!r} is neither a built-in corpus ("
                f"{', '.join(n for n, d in BUILTIN.items() if d.task == 'charlm')}) nor an "
                f"existing text file or folder"
            )
        return path

    def _check_config(self) -> None:
        d = self.cfg.data
        if d.level not in LEVELS:
            raise RnnkitError(f"data.level: {d.level!r} is not one of {', '.join(LEVELS)}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(d, key) < 0.5:
                raise RnnkitError(
                    f"data.{key}: expected a value in (0, 0.5), got {getattr(d, key)}"
                )
        if d.eval_streams < 1:
            raise RnnkitError(f"data.eval_streams: expected >= 1, got {d.eval_streams}")

    def _read_parts(self) -> dict[str, tuple[str, list[int]]]:
        d = self.cfg.data
        docs = [text for _, text in read_documents(self._resolve(d.source))]
        fractions = (1.0 - d.val_fraction - d.test_fraction, d.val_fraction, d.test_fraction)
        return split_text(docs, fractions)

    def _encode(self, parts: dict[str, tuple[str, list[int]]]) -> None:
        vocab = self._vocab()
        self.splits = {name: encode_split(vocab, *part) for name, part in parts.items()}
        for name, split in self.splits.items():
            if len(split) < 2:
                raise RnnkitError(
                    f"the {name} split of {self.cfg.data.source} holds {len(split)} symbols; "
                    f"give more text or a larger data.{name}_fraction"
                )

    def prepare(self, run_dir: Path) -> None:
        self._check_config()
        parts = self._read_parts()
        self.vocab = Vocab.fit(parts["train"][0], self.cfg.data.level)  # training text only
        self.vocab.save(Path(run_dir) / "vocab.json")
        self._encode(parts)
        self._streams("train")  # refuse a TBPTT chunk longer than the data now
        self._run_dir = Path(run_dir)

    def restore(self, run_dir: Path) -> None:
        """The saved vocabulary; the corpus is read again (same split) only when a split's
        batches are asked for."""
        self._check_config()
        self.vocab = Vocab.load(Path(run_dir) / "vocab.json")
        self._run_dir = Path(run_dir)

    def set_data(self, source: str) -> None:
        """Evaluate on another text (file or folder): all of it becomes val and test, read
        with the saved vocabulary (characters it lacks count as the unknown symbol)."""
        docs = [text for _, text in read_documents(self._resolve(source))]
        starts, pos = [], 0
        for doc in docs[:-1]:
            pos += len(doc)
            starts.append(pos)
        split = encode_split(self._vocab(), "".join(docs), starts)
        if len(split) < 2:
            raise RnnkitError(f"{source}: at least two symbols are needed to evaluate")
        self.splits = {"val": split, "test": split}

    def _streams(self, split: str) -> StreamBatches:
        if not self.splits and self.vocab is not None:  # after restore: read the corpus again
            self._encode(self._read_parts())
        if split not in self.splits:
            raise RnnkitError(f"split {split!r}: expected train, val or test")
        if split == "train":
            return StreamBatches(
                self.splits[split], self.cfg.train.batch_size, self.cfg.data.bptt, "training"
            )
        data = self.splits[split]
        n_streams = min(self.cfg.data.eval_streams, len(data) - 1)
        steps = (len(data) - 1) // n_streams
        return StreamBatches(data, n_streams, min(self.cfg.data.bptt, steps), split)

    def batches(
        self, split: str, *, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterable[Batch]:
        # Never shuffled: batch j+1 continues batch j in every stream.
        return self._streams(split)

    def split_size(self, split: str) -> int:
        return self._streams(split).n_targets

    # ----------------------------------------------------------------- model
    def build_model(self) -> nn.Module:
        config = cast(LanguageModelConfig, self.cfg.model)
        return LanguageModel.from_config(config, len(self._vocab()))

    def _vocab(self) -> Vocab:
        if self.vocab is None:
            raise RnnkitError("the vocabulary is not loaded (call prepare or restore first)")
        return self.vocab

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits, _ = model(batch.inputs, None, batch.extras.get("reset"))
        return cast(LanguageModel, model).loss(logits, batch.required_targets())

    def on_epoch_start(self, model: nn.Module, split: str) -> None:
        if split == "train":
            self.carry.reset()

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        reset = batch.extras.get("reset")
        logits, state = model(batch.inputs, self.carry.state, reset)
        self.carry.update(state)  # carried to the next chunk, detached
        return cast(LanguageModel, model).loss(logits, batch.required_targets())

    # ---------------------------------------------------------- explain, generate
    def explain_input(self, model: nn.Module, spec: str) -> ExplainInput:
        """IG of the most likely next character's logit over the character embeddings."""
        if self.vocab is None:
            raise RnnkitError("the charlm run has no vocabulary (call restore first)")
        return char_model_input(model, self.vocab, spec)

    def generate(self, model: nn.Module, prime: str, length: int, **sampling: Any) -> str:
        """``prime`` then ``length`` sampled symbols; the prime is read once and each symbol
        is fed back with the carried state. Characters outside the vocabulary are refused.

        ``sampling``: ``temperature`` (0 = greedy), ``top_k``, ``top_p``, ``generator``.
        """
        vocab = self.vocab
        if vocab is None:
            raise RnnkitError("the charlm run has no vocabulary (call restore first)")
        if length < 1:
            raise RnnkitError(f"--length must be at least 1, got {length}")
        if not prime:
            raise RnnkitError("--prime is empty; give at least one character to start from")
        unknown = vocab.unknown(prime)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:20])
            raise RnnkitError(
                f"--prime has {len(unknown)} character(s) outside the vocabulary of the run: "
                f"{shown}; the model knows {len(vocab) - 1} characters"
            )
        ids = generate_ids(
            cast(LanguageModel, model),
            vocab.encode(prime),
            length,
            banned=[vocab.unk_id] if vocab.unk_id is not None else None,
            **sampling,
        )
        if vocab.level == "byte":
            return vocab.decode(torch.cat([vocab.encode(prime), ids]))
        return prime + vocab.decode(ids)

    def gradflow_probe(self, model: nn.Module, batch: Batch) -> tuple[Any, ...]:
        """The stack, its (dropped-out) embedded input, the loss of its output and the state
        carried into this chunk."""
        lm, targets = cast(LanguageModel, model), batch.required_targets()
        x = lm.dropout(lm.embedding(batch.inputs))  # (B, T, E)

        def loss_fn(out: torch.Tensor) -> torch.Tensor:
            return lm.loss(lm.head(lm.dropout(out)), targets)

        return lm.recurrent, x, loss_fn, self.carry.state

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        total, count, state = 0.0, 0, None
        for batch in self._streams(split):
            batch = batch.to(device)
            logits, state = model(batch.inputs, state, batch.extras["reset"])
            targets = batch.required_targets()  # (B, T)
            total += float(cast(LanguageModel, model).loss(logits, targets, reduction="sum"))
            count += int((targets != IGNORE_INDEX).sum())
        nats = total / max(count, 1)
        return {"loss": nats, "bpc": nats / LN2, "perplexity": math.exp(min(nats, 50.0))}

    # -------------------------------------------------------------- baselines
    def search_space(self) -> list[Param]:
        """The stack's space and the truncated-BPTT chunk length."""
        from rnnkit.tune.space import choice, stack_space

        return [
            *stack_space(self),
            choice("data.bptt", *sorted({64, 128, 256, self.cfg.data.bptt})),
        ]

    def baselines(self) -> dict[str, dict[str, float]]:
        """Unigram and add-one bigram character models fitted on the training split."""
        self._streams("test")  # make sure the corpus is loaded
        train, test = self.splits["train"].ids, self.splits["test"]
        v = len(self._vocab())
        unigram = torch.bincount(train, minlength=v).double() + 1.0
        unigram = unigram / unigram.sum()
        bigram = torch.ones(v, v, dtype=torch.float64)
        bigram.index_put_(
            (train[:-1], train[1:]),
            torch.ones(len(train) - 1, dtype=torch.float64),
            accumulate=True,
        )
        bigram = bigram / bigram.sum(1, keepdim=True)
        scored = torch.ones(len(test), dtype=torch.bool)
        scored[0] = False
        scored[test.doc_starts] = False
        ids = test.ids
        uni = -unigram[ids[scored]].log().mean().item()
        prev = torch.roll(ids, 1)
        bi = -bigram[prev[scored], ids[scored]].log().mean().item()
        return {
            "unigram": {"loss": uni, "bpc": uni / LN2},
            "bigram_add_one": {"loss": bi, "bpc": bi / LN2},
        }
