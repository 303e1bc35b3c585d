r"""Encoder-decoder with attention: the sequence-to-sequence model of ``translate`` and ``g2p``.

.. code-block:: text

    source ids (B, S) ─► embedding ─► recurrent encoder (any rnnkit family, bidirectional,
                                      several layers; padding skipped by lengths)
                                            │ memory (B, S, C)
    target ids (B, T) ─► embedding ─► decoder cell stack (LSTM or GRU) ◄─► attention
                                            │ attentional vector (B, T, H)
                                            ▼
                                      output layer ─► logits (B, T, V)

Attention (``attention=``):

- ``bahdanau`` (additive, Bahdanau et al. 2015): the previous decoder state asks,
  :math:`e_{j} = v^\top \tanh(W s_{t-1} + U m_j)`, and the context enters the cell with the
  previous token.
- ``luong`` (multiplicative "general", Luong et al. 2015): the new decoder state asks,
  :math:`e_j = s_t^\top W m_j`; the attentional vector :math:`\tilde h_t = \tanh(W_c[c_t;
  s_t])` is fed to the next step ("input feeding").

In both, :math:`a = \mathrm{softmax}(e)` over the valid source positions only: padded
positions get weight exactly 0, so padding changes no output and no gradient. The decoder
starts from ``tanh(W_l · mean of the valid memory)`` per layer (any encoder family works).

Decoding: :meth:`Seq2Seq.greedy` and :meth:`Seq2Seq.beam_search` (batched, beam width,
length penalty ``score / length ** alpha``); both return the attention weights of each
output token. Training: :meth:`Seq2Seq.forward` with teacher forcing (a ratio < 1 feeds
the model's own previous prediction instead, scheduled sampling) and
:meth:`Seq2Seq.loss` (cross-entropy with label smoothing, padding ignored).

Ids: 0 is padding in both vocabularies; the target vocabulary holds ``bos_id`` and
``eos_id``. Decoder targets are ``tgt_in = [BOS] + y`` and ``tgt_out = y + [EOS]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.gru import gru_step
from rnnkit.cells.lstm import lstm_step
from rnnkit.cells.padded import step_mask
from rnnkit.config import ModelConfig, option
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size

ATTENTIONS = ("bahdanau", "luong")
DECODER_CELLS = ("lstm", "gru")
PAD_ID = 0


class Attention(nn.Module):
    """Attention of a query over a memory, masked by the memory's lengths.

    Args:
        kind: ``bahdanau`` (additive) or ``luong`` (multiplicative, "general").
        query_size: Q, features of the query (the decoder state).
        memory_size: C, features per memory position (the encoder output).
        attention_size: A, the hidden size of the additive score (``bahdanau`` only).

    Use :meth:`keys` once per source batch, then :meth:`forward` per decoder step.
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        if kind not in ATTENTIONS:
            raise RnnkitError(f"attention: {kind!r} is not one of {', '.join(ATTENTIONS)}")
        self.kind = kind
        if kind == "bahdanau":
            self.key_proj = nn.Linear(memory_size, attention_size, bias=False)  # U
            self.query_proj = nn.Linear(query_size, attention_size)  # W
            self.v = nn.Linear(attention_size, 1, bias=False)
        else:
            self.key_proj = nn.Linear(memory_size, query_size, bias=False)  # W of s^T W m

    def keys(self, memory: Tensor) -> Tensor:
        """The projected memory: ``(B, S, C) -> (B, S, A)`` (bahdanau) or ``(B, S, Q)``."""
        return self.key_proj(memory)

    def forward(
        self, query: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Context and weights for ``query (B, Q)`` over ``memory (B, S, C)``.

        ``keys`` is :meth:`keys` of the memory and ``mask (B, S)`` is True at valid
        positions (at least one per row). Returns ``context (B, C)`` and ``weights (B, S)``,
        summing to 1 over the valid positions and exactly 0 at padding.
        """
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(keys + self.query_proj(query)[:, None])).squeeze(-1)
        else:
            scores = torch.bmm(keys, query[:, :, None]).squeeze(-1)  # (B, S)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, S); exp(-inf) = 0 at padding
        context = torch.bmm(weights[:, None], memory).squeeze(1)  # (B, C)
        return context, weights


class DecoderCells(nn.Module):
    """A stack of LSTM or GRU cells stepped one token at a time (rnnkit's reference steps).

    Parameters carry torch.nn's names and shapes (``weight_ih_l0``, ``bias_hh_l1`` ...).
    The state is a tuple of ``(L, B, H)`` tensors: ``(h, c)`` for LSTM, ``(h,)`` for GRU.
    """

    def __init__(
        self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        if cell not in DECODER_CELLS:
            raise RnnkitError(
                f"decoder cell: {cell!r} is not one of {', '.join(DECODER_CELLS)} (the "
                f"decoder steps one token at a time)"
            )
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        gates = 4 if cell == "lstm" else 3
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size
            for name, shape in (
                (f"weight_ih_l{layer}", (gates * hidden_size, size)),
                (f"weight_hh_l{layer}", (gates * hidden_size, hidden_size)),
                (f"bias_ih_l{layer}", (gates * hidden_size,)),
                (f"bias_hh_l{layer}", (gates * hidden_size,)),
            ):
                self.register_parameter(
                    name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
                )
        self.dropout = nn.Dropout(dropout)

    def initial_state(self, h0: Tensor) -> tuple[Tensor, ...]:
        """The state from initial hidden states ``h0 (L, B, H)`` (LSTM cells start at 0)."""
        return (h0, torch.zeros_like(h0)) if self.cell == "lstm" else (h0,)

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step: ``x (B, I)`` -> top hidden state ``(B, H)`` and the new state."""
        hs, cs = [], []
        for layer in range(self.num_layers):
            w = [getattr(self, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh")]
            b = [getattr(self, f"{n}_l{layer}") for n in ("bias_ih", "bias_hh")]
            if layer > 0:
                x = self.dropout(x)
            if self.cell == "lstm":
                h, c = lstm_step(x, state[0][layer], state[1][layer], *w, *b)
                cs.append(c)
            else:
                h = gru_step(x, state[0][layer], *w, *b)
            hs.append(h)
            x = h
        new = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else (torch.stack(hs),)
        return x, new


@dataclass
class Memory:
    """The encoded source of a batch: ``memory (B, S, C)``, ``keys`` (attention's projection),
    ``mask (B, S)`` True at valid positions, and the decoder's initial ``state``."""

    memory: Tensor
    keys: Tensor
    mask: Tensor
    state: tuple[Tensor, ...]

    def select(self, index: Tensor) -> Memory:
        """The rows ``index`` (beam search expands and reorders the batch)."""
        return Memory(
            self.memory[index],
            self.keys[index],
            self.mask[index],
            tuple(s[:, index] for s in self.state),
        )


@dataclass
class Decoded:
    """Decoder output: ``tokens`` (one id list per input, EOS excluded), ``scores`` (the
    log-probability, divided by ``length ** alpha`` for beam search), and ``attention``
    (per input a ``(len(tokens) + 1, S_b)`` tensor: one row per output token incl. EOS)."""

    tokens: list[list[int]]
    scores: list[float]
    attention: list[Tensor]


@dataclass
class Seq2SeqConfig(ModelConfig):
    """``model`` section of an encoder-decoder: the encoder stack (the decoder takes the
    same sizes) and the size of both embeddings."""

    embedding_dim: int = option(128, "size of the source and the target token embeddings")


class Seq2Seq(nn.Module):
    """Recurrent encoder-decoder with attention.

    Args:
        src_vocab, tgt_vocab: ids in the source / target vocabulary (0 = padding).
        encoder: a recurrent stack ``(x (B, S, E), lengths=) -> (out (B, S, C), state)``
            (:func:`rnnkit.models.stack.make_recurrent`).
        encoder_size: C, its output features per step.
        embedding_dim: E, the size of both embeddings.
        hidden_size: H, the decoder's units per layer.
        num_layers: decoder layers.
        decoder_cell: ``lstm`` or ``gru``.
        attention: ``bahdanau`` or ``luong``.
        dropout: on the embeddings, between decoder layers and before the output layer.
        bos_id, eos_id: the target vocabulary's begin / end of sequence ids.

    Example::

        model = Seq2Seq.from_config(Seq2SeqConfig(cell="gru", bidirectional=True), 30, 40,
                                    bos_id=2, eos_id=3)
        logits, attn = model(src, src_lengths, tgt_in)  # (B, T, 40), (B, T, S)
        out = model.beam_search(src, src_lengths, beam_size=4, max_length=30)
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        encoder: nn.Module,
        encoder_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        decoder_cell: str = "lstm",
        attention: str = "bahdanau",
        dropout: float = 0.0,
        bos_id: int = 2,
        eos_id: int = 3,
    ) -> None:
        super().__init__()
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 < value < tgt_vocab:
                raise RnnkitError(f"{name}={value} is outside the target vocabulary (1..)")
        self.bos_id, self.eos_id, self.tgt_vocab = bos_id, eos_id, tgt_vocab
        self.attention_kind = attention
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=PAD_ID)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=PAD_ID)
        self.encoder = encoder
        self.bridge = nn.Linear(encoder_size, num_layers * hidden_size)
        self.attention = Attention(attention, hidden_size, encoder_size, hidden_size)
        feed = encoder_size if attention == "bahdanau" else hidden_size
        self.decoder = DecoderCells(
            decoder_cell, embedding_dim + feed, hidden_size, num_layers, dropout
        )
        self.combine = nn.Linear(hidden_size + encoder_size, hidden_size)  # W_c
        self.out = nn.Linear(hidden_size, tgt_vocab)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_config(
        cls,
        cfg: Seq2SeqConfig,
        src_vocab: int,
        tgt_vocab: int,
        *,
        attention: str = "bahdanau",
        decoder_cell: str = "",
        bos_id: int = 2,
        eos_id: int = 3,
    ) -> Seq2Seq:
        """The model a :class:`Seq2SeqConfig` names: ``cell``, ``hidden_size``,
        ``num_layers``, ``bidirectional``, ``backend``... for the encoder, the same sizes for
        the decoder (``decoder_cell`` "" = ``cfg.cell`` when it is lstm / gru, else lstm)."""
        encoder = make_recurrent(cfg, cfg.embedding_dim)
        if not decoder_cell:
            decoder_cell = cfg.cell if cfg.cell in DECODER_CELLS else "lstm"
        return cls(
            src_vocab,
            tgt_vocab,
            encoder=encoder,
            encoder_size=output_size(cfg),
            embedding_dim=cfg.embedding_dim,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            decoder_cell=decoder_cell,
            attention=attention,
            dropout=cfg.dropout,
            bos_id=bos_id,
            eos_id=eos_id,
        )

    # ------------------------------------------------------------------ encoder
    def encode(self, src: Tensor, src_lengths: Tensor, *, embedded: Tensor | None = None) -> Memory:
        """Encode ``src (B, S)`` ids with ``src_lengths (B,)`` (>= 1) into a :class:`Memory`.

        ``embedded (B, S, E)``, when given, replaces the source embeddings (attributions
        are taken over them, ``rnnkit explain``)."""
        if src_lengths.numel() and int(src_lengths.min()) < 1:
            raise ValueError("every source sequence must hold at least one token")
        x = self.src_embedding(src) if embedded is None else embedded
        x = self.dropout(x)  # (B, S, E)
        memory, _ = self.encoder(x, lengths=src_lengths.cpu())  # (B, S, C)
        mask = step_mask(src_lengths, src.shape[1], src.device)  # (B, S)
        memory = memory * mask[..., None]  # exactly zero at padding, whatever the backend
        pooled = memory.sum(1) / src_lengths.to(memory)[:, None]  # (B, C) mean of valid steps
        h0 = torch.tanh(self.bridge(pooled))  # (B, L * H)
        h0 = h0.view(len(src), self.decoder.num_layers, -1).transpose(0, 1).contiguous()
        return Memory(memory, self.attention.keys(memory), mask, self.decoder.initial_state(h0))

    def initial_feed(self, mem: Memory) -> Tensor:
        """The attention input fed with the first token: zeros ``(B, C)`` or ``(B, H)``."""
        size = (
            mem.memory.shape[-1] if self.attention_kind == "bahdanau" else self.combine.out_features
        )
        return mem.memory.new_zeros(len(mem.memory), size)

    # ------------------------------------------------------------------ decoder
    def step(
        self, y_prev: Tensor, state: tuple[Tensor, ...], feed: Tensor, mem: Memory
    ) -> tuple[Tensor, tuple[Tensor, ...], Tensor, Tensor]:
        """One decoder step from the previous tokens ``y_prev (B,)``.

        Returns ``logits (B, V)``, the new state, the next ``feed`` and the attention
        weights ``(B, S)``.
        """
        emb = self.dropout(self.tgt_embedding(y_prev))  # (B, E)
        if self.attention_kind == "bahdanau":
            context, weights = self.attention(state[0][-1], mem.memory, mem.keys, mem.mask)
            top, state = self.decoder(torch.cat([emb, context], -1), state)  # (B, H)
        else:
            top, state = self.decoder(torch.cat([emb, feed], -1), state)
            context, weights = self.attention(top, mem.memory, mem.keys, mem.mask)
        attentional = torch.tanh(self.combine(torch.cat([top, context], -1)))  # (B, H)
        logits = self.out(self.dropout(attentional))  # (B, V)
        next_feed = context if self.attention_kind == "bahdanau" else attentional
        return logits, state, next_feed, weights

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        *,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        embedded: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Decode ``tgt_in (B, T)`` (``[BOS] + y``, padded) against ``src (B, S)``.

        With ``teacher_forcing < 1`` each step after the first reads, with probability
        ``1 - teacher_forcing``, the model's own previous argmax instead of the true token.
        ``embedded (B, S, E)`` replaces the source embeddings (see :meth:`encode`).

        Returns ``logits (B, T, V)`` and attention weights ``(B, T, S)``.
        """
        mem = self.encode(src, src_lengths, embedded=embedded)
        state, feed = mem.state, self.initial_feed(mem)
        logits_steps: list[torch.Tensor] = []
        weight_steps: list[torch.Tensor] = []
        y_prev = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                y_prev = tgt_in[:, t]
                if teacher_forcing < 1.0:
                    own = logits_steps[-1].argmax(-1)  # (B,)
                    draw = torch.rand(len(own), generator=generator).to(own.device)
                    y_prev = torch.where(draw < teacher_forcing, y_prev, own)
            logits, state, feed, weights = self.step(y_prev, state, feed, mem)
            logits_steps.append(logits)
            weight_steps.append(weights)
        return torch.stack(logits_steps, 1), torch.stack(weight_steps, 1)

    def loss(
        self,
        logits: Tensor,
        tgt_out: Tensor,
        *,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Tensor:
        """Cross-entropy of ``logits (B, T, V)`` against ``tgt_out (B, T)`` (``y + [EOS]``),
        padding (id 0) ignored; ``mean`` is per target token."""
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            tgt_out.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )

    # ------------------------------------------------------------------ decoding
    def _output_log_probs(self, logits: Tensor) -> Tensor:
        """Log-probabilities ``(N, V)`` of the tokens a decoder may output: never padding
        or BOS."""
        logits = logits.float().clone()
        logits[:, [PAD_ID, self.bos_id]] = float("-inf")
        return torch.log_softmax(logits, -1)

    @torch.no_grad()
    def greedy(self, src: Tensor, src_lengths: Tensor, max_length: int) -> Decoded:
        """The most likely token at each step, until EOS or ``max_length`` tokens."""
        mem = self.encode(src, src_lengths)
        state, feed = mem.state, self.initial_feed(mem)
        B = len(src)
        y = torch.full((B,), self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        tokens, weights, score = [], [], torch.zeros(B, device=src.device)
        for _ in range(max_length + 1):
            logits, state, feed, w = self.step(y, state, feed, mem)
            logp = self._output_log_probs(logits)  # (B, V)
            y = logp.argmax(-1)  # (B,)
            score += torch.where(done, 0.0, logp.gather(1, y[:, None]).squeeze(1))
            tokens.append(torch.where(done, PAD_ID, y))
            weights.append(w)
            done |= y == self.eos_id
            if bool(done.all()):
                break
        return _collect(
            torch.stack(tokens, 1), torch.stack(weights, 1), score, src_lengths, self.eos_id
        )

    @torch.no_grad()
    def beam_search(
        self,
        src: Tensor,
        src_lengths: Tensor,
        max_length: int,
        *,
        beam_size: int = 4,
        length_penalty: float = 1.0,
    ) -> Decoded:
        """Batched beam search: keep the ``beam_size`` best partial outputs per input by
        total log-probability; a finished output (EOS) keeps its score. The answer is the
        finished output with the best ``score / length ** length_penalty`` (length counts
        EOS). ``beam_size=1`` is greedy decoding."""
        if not 1 <= beam_size <= self.tgt_vocab - 2:
            raise RnnkitError(
                f"beam size: expected 1 to {self.tgt_vocab - 2} (output tokens), got {beam_size}"
            )
        B, K, V = len(src), beam_size, self.tgt_vocab
        dev = src.device
        mem = self.encode(src, src_lengths).select(torch.arange(B, device=dev).repeat_interleave(K))
        state, feed = mem.state, self.initial_feed(mem)
        y = torch.full((B * K,), self.bos_id, dtype=torch.long, device=dev)
        scores = torch.full((B, K), float("-inf"), device=dev)
        scores[:, 0] = 0.0  # one live beam at the start: the others would repeat it
        done = torch.zeros(B, K, dtype=torch.bool, device=dev)
        length = torch.zeros(B, K, device=dev)
        tokens = torch.zeros(B, K, 0, dtype=torch.long, device=dev)
        weights = torch.zeros(B, K, 0, src.shape[1], device=dev)
        for _ in range(max_length + 1):
            logits, state, feed, w = self.step(y, state, feed, mem)
            logp = self._output_log_probs(logits).view(B, K, V)
            # a finished beam continues only with padding, at no cost
            finished = torch.full((V,), float("-inf"), device=dev)
            finished[PAD_ID] = 0.0
            logp = torch.where(done[..., None], finished, logp)
            total = (scores[..., None] + logp).view(B, K * V)
            scores, flat = total.topk(K, dim=-1)  # (B, K)
            beam, y_new = flat // V, flat % V  # (B, K) each
            rows = (beam + torch.arange(B, device=dev)[:, None] * K).view(-1)  # (B*K,)
            state = tuple(s[:, rows] for s in state)
            feed = feed[rows]
            done, length = done.gather(1, beam), length.gather(1, beam)
            length = length + (~done).float()
            tokens = torch.cat(
                [tokens.gather(1, beam[..., None].expand_as(tokens)), y_new[..., None]], -1
            )
            w = w.view(B, K, -1).gather(1, beam[..., None].expand(B, K, w.shape[-1]))
            weights = torch.cat(
                [weights.gather(1, beam[..., None, None].expand_as(weights)), w[:, :, None]], 2
            )
            done = done | (y_new == self.eos_id)
            y = y_new.view(-1)
            if bool(done.all()):
                break
        normalised = scores / length.clamp(min=1) ** length_penalty
        preferred = torch.where(done, normalised, normalised - 1e9)  # finished outputs first
        best = preferred.argmax(-1)  # (B,)
        pick = torch.arange(B, device=dev)
        out = _collect(
            tokens[pick, best],
            weights[pick, best],
            normalised[pick, best],
            src_lengths,
            self.eos_id,
        )
        return out


def _collect(
    tokens: Tensor, weights: Tensor, scores: Tensor, src_lengths: Tensor, eos_id: int
) -> Decoded:
    """Cut ``tokens (B, T)`` at the first EOS (at most ``T - 1`` tokens: the decoders run
    ``max_length + 1`` steps so that EOS may follow ``max_length`` tokens); attention rows
    up to it, valid columns only."""
    out_tokens, out_weights = [], []
    for b in range(len(tokens)):
        row = tokens[b].tolist()
        n = row.index(eos_id) if eos_id in row else len(row)
        n = min(n, max(tokens.shape[1] - 1, 0))
        out_tokens.append(row[:n])
        steps = min(n + 1, tokens.shape[1])
        out_weights.append(weights[b, :steps, : int(src_lengths[b])].cpu())
    return Decoded(out_tokens, [float(s) for s in scores], out_weights)
