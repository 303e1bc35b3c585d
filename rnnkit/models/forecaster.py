"""``Forecaster``: linear encoder -> recurrent stack -> head, for multi-horizon forecasts.

Each context step ``s`` carries the features ``[y_s (C targets), p_s (P past covariates),
k_{s+1} (K future covariates of the next step)]``: future covariates are known ahead, so
the step that predicts ``s+1`` may see them. Static features (per series) are fused by
:class:`rnnkit.models.static.StaticFusion` (``concat`` to every step, or ``init`` state).

::

    context (B, L, F) ─linear─► (B, L, E) ─► recurrent ─► (B, L, R)
      direct:   last step h (B, R) ++ future covariates (B, H*K) ─linear─► (B, H, C)
      rollout:  every step h_s ─linear─► next value (B, L, C); forecasts are fed back
                one step at a time (needs no past-only covariates)

With ``residual=True`` the model is made level-free: the target channels of the inputs
are taken relative to a reference value of the window (the last context value for
direct, the first for rollout), and the head predicts the change from the last observed
value (``y_{t-1}`` for direct, ``y_s`` for each rollout step). An untrained model starts
at the naive forecast, and a trending series whose test values leave the training range
looks, to the network, like the windows it was trained on. With ``season=m`` (> 1, direct
only) the head predicts the change from the seasonal naive forecast instead
(``y_{t+h-m(h//m+1)}``, the value one season before), which is where a model of a series
with strong cycles should start. All values are in scaled units; the task inverts the
scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnkit.config import ModelConfig, option
from rnnkit.errors import RnnkitError
from rnnkit.models.stack import make_recurrent, output_size
from rnnkit.models.static import StaticFusion

OUTPUTS = ("direct", "rollout")


@dataclass
class ForecasterConfig(ModelConfig):
    """``model`` section of a forecaster: the stack, its encoder, its output head and the
    fusion of static features (these four were ``data.*`` keys before; the old names are
    still read, with a note)."""

    embedding_dim: int = option(128, "size of the linear encoder of each input step")
    head_dropout: float = option(0.0, "dropout before the output head")
    output: str = option(
        "direct", "direct (H outputs at once) | rollout (a one-step head fed back)"
    )
    residual: bool | str = option(
        True,
        "true: predict the change from the last value | seasonal: from the value one season "
        "back (direct only) | false | auto: seasonal where that beats the last value on the "
        "training part, else true",
    )
    static_fusion: str = option(
        "concat", "how static features enter: concat (every step) | init (initial state)"
    )
    static_size: int = option(8, "size of the encoded static feature vector")


class Forecaster(nn.Module):
    """Forecast ``H`` steps of ``C`` targets from ``L`` context steps.

    Args:
        recurrent: batch-first stack ``(x (B, T, E), hx=None, lengths=) -> (out (B, T, R),
            state)`` (see :func:`rnnkit.models.stack.make_recurrent`).
        recurrent_size: R.
        input_size: F = C + P + K features per context step.
        num_targets: C (the first C input features are the targets).
        horizon: H.
        future_size: K, future covariates per step.
        output: ``"direct"`` (one head for all H steps) or ``"rollout"`` (one-step head,
            fed back H times).
        embedding_dim: E, the linear encoder's output size.
        static: optional :class:`StaticFusion` for per-series features.
        residual: predict changes from the last observed value.
        head_dropout: dropout before the head.

    Inputs of :meth:`forward` / :meth:`forecast`:
        - context: ``(B, L, F)`` scaled features.
        - future: ``(B, H, K)`` future covariates of the horizon steps (K = 0: None).
        - static_cat ``(B, Kc)`` int64 / static_num ``(B, Kn)``: per-series features.
        - teacher (rollout training only): ``(B, H-1, F)`` the true horizon step inputs.

    Outputs:
        - :meth:`forward` (direct): ``(B, H, C)``; (rollout): ``(B, L + H - 1, C)``, the
          one-step prediction after every input step (teacher forcing).
        - :meth:`forecast`: ``(B, H, C)`` in both modes.
    """

    def __init__(
        self,
        recurrent: nn.Module,
        recurrent_size: int,
        *,
        input_size: int,
        num_targets: int,
        horizon: int,
        future_size: int = 0,
        output: str = "direct",
        embedding_dim: int = 32,
        static: StaticFusion | None = None,
        residual: bool = True,
        head_dropout: float = 0.0,
        season: int = 1,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if horizon < 1 or num_targets < 1 or input_size < num_targets:
            raise ValueError(
                f"need horizon >= 1 and 1 <= num_targets <= input_size, got horizon={horizon}, "
                f"num_targets={num_targets}, input_size={input_size}"
            )
        self.output = output
        self.input_size = input_size
        self.num_targets = num_targets
        self.horizon = horizon
        self.future_size = future_size
        if season > 1 and (output != "direct" or not residual):
            raise ValueError("a seasonal residual (season > 1) needs output=direct, residual=True")
        self.residual = residual
        self.season = max(int(season), 1)  # > 1: the direct head starts at seasonal naive
        self.static = static
        extra = static.extra_inputs if static is not None else 0
        self.encoder = nn.Linear(input_size + extra, embedding_dim)
        self.recurrent = recurrent
        self.head_dropout = nn.Dropout(head_dropout)
        if output == "direct":
            self.head = nn.Linear(recurrent_size + horizon * future_size, horizon * num_targets)
        else:
            self.head = nn.Linear(recurrent_size, num_targets)

    @classmethod
    def from_config(
        cls,
        cfg: ForecasterConfig,
        *,
        input_size: int,
        num_targets: int,
        horizon: int,
        future_size: int = 0,
        output: str = "direct",
        residual: bool | str = True,
        season: int = 1,
        static_cardinalities: list[int] | None = None,
        static_numeric: int = 0,
        static_fusion: str = "concat",
        static_size: int = 8,
    ) -> Forecaster:
        """The forecaster a :class:`ModelConfig` describes (``model.embedding_dim`` is the
        encoder size; the stack comes from :func:`make_recurrent`)."""
        if output not in OUTPUTS:
            raise RnnkitError(f"model.output: expected direct or rollout, got {output!r}")
        if output == "rollout" and cfg.bidirectional:
            raise RnnkitError("model.output=rollout cannot use model.bidirectional=true")
        if residual not in (True, False, "seasonal"):
            raise RnnkitError(
                f"model.residual: expected true, false or seasonal here, got {residual!r} "
                "(auto is decided by the forecast task from the training data)"
            )
        if residual == "seasonal" and (output != "direct" or season < 2):
            raise RnnkitError(
                "model.residual=seasonal needs model.output=direct and a season "
                f"(data.seasonality > 1), got output={output}, season={season}"
            )
        static = None
        if static_cardinalities or static_numeric:
            try:
                static = StaticFusion(
                    static_fusion,
                    list(static_cardinalities or []),
                    static_numeric,
                    static_size,
                    cell=cfg.cell,
                    hidden_size=cfg.hidden_size,
                    num_layers=cfg.num_layers,
                    num_directions=2 if cfg.bidirectional else 1,
                )
            except ValueError as e:
                raise RnnkitError(f"model.static_fusion: {e}") from None
        return cls(
            make_recurrent(cfg, cfg.embedding_dim),
            output_size(cfg),
            input_size=input_size,
            num_targets=num_targets,
            horizon=horizon,
            future_size=future_size,
            output=output,
            embedding_dim=cfg.embedding_dim,
            static=static,
            residual=bool(residual),
            head_dropout=cfg.head_dropout,
            season=season if residual == "seasonal" else 1,
        )

    # ------------------------------------------------------------------ pieces
    def _static(
        self, static_cat: torch.Tensor | None, static_num: torch.Tensor | None
    ) -> torch.Tensor | None:
        if self.static is None:
            return None
        return self.static.encode(static_cat, static_num)  # (B, E_s)

    def _level(self, context: torch.Tensor) -> torch.Tensor | None:
        """The reference value ``(B, 1, C)`` the target inputs are taken relative to."""
        if not self.residual:
            return None
        C = self.num_targets
        return context[:, -1:, :C] if self.output == "direct" else context[:, :1, :C]

    def _relative(self, x: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, T, F) with its target channels minus ``level`` (B, 1, C)."""
        if level is None:
            return x
        C = self.num_targets
        return torch.cat([x[..., :C] - level, x[..., C:]], dim=-1)

    def _run(
        self, x: torch.Tensor, s: torch.Tensor | None, hx: object = None
    ) -> tuple[torch.Tensor, object]:
        """Encode and run ``x`` (B, T, F) from state ``hx``; returns ``(out (B, T, R), state)``."""
        if s is not None:
            x = self.static.inputs(x, s)  # type: ignore[union-attr]
            if hx is None:
                hx = self.static.initial_state(s)  # type: ignore[union-attr]
        e = self.encoder(x)  # (B, T, E)
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        if hx is None:
            return self.recurrent(e, lengths=lengths)
        return self.recurrent(e, hx, lengths=lengths)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        context: torch.Tensor,
        future: torch.Tensor | None = None,
        static_cat: torch.Tensor | None = None,
        static_num: torch.Tensor | None = None,
        teacher: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Direct: ``(B, H, C)`` forecasts. Rollout: ``(B, T, C)`` one-step predictions after
        every step of ``context`` followed by ``teacher`` ``(B, H-1, F)``, the true inputs
        of the horizon steps (teacher forcing in training; T = L + H - 1)."""
        if self.output == "rollout" and teacher is not None:
            context = torch.cat([context, teacher], dim=1)  # (B, L+H-1, F)
        B, L, _ = context.shape
        level = self._level(context)  # (B, 1, C) or None
        x = self._relative(context, level)
        out, _ = self._run(x, self._static(static_cat, static_num))  # (B, L, R)
        C = self.num_targets
        if self.output == "rollout":
            step = self.head(self.head_dropout(out))  # (B, L, C)
            return step + context[..., :C] if self.residual else step
        h = out[:, -1]  # (B, R)
        if self.future_size:
            if future is None:
                raise RnnkitError(
                    f"this forecaster needs future covariates (B, {self.horizon}, "
                    f"{self.future_size}); got none"
                )
            h = torch.cat([h, future.reshape(B, -1)], dim=-1)  # (B, R + H*K)
        y = self.head(self.head_dropout(h)).view(B, self.horizon, C)  # (B, H, C)
        return y + self._base(context) if self.residual else y

    def _base(self, context: torch.Tensor) -> torch.Tensor:
        """What the direct head predicts the change from: the last value ``(B, 1, C)``, or
        with a season ``m`` the seasonal naive forecast ``(B, H, C)``."""
        C, m = self.num_targets, self.season
        if m == 1:
            return context[:, -1:, :C]
        if context.shape[1] < m:
            raise RnnkitError(
                f"a seasonal forecaster needs at least one season ({m} steps) of context, "
                f"got {context.shape[1]}"
            )
        steps = torch.arange(self.horizon, device=context.device) % m  # (H,) h -> h mod m
        return context[:, -m:, :C][:, steps]  # (B, H, C): y[t-m + (h mod m)]

    @torch.no_grad()
    def forecast(
        self,
        context: torch.Tensor,
        future: torch.Tensor | None = None,
        static_cat: torch.Tensor | None = None,
        static_num: torch.Tensor | None = None,
        horizon: int | None = None,
    ) -> torch.Tensor:
        """``(B, horizon, C)`` forecasts from ``context`` ``(B, L, F)``.

        Direct models forecast ``H`` steps at once; a longer ``horizon`` is reached by
        feeding each block of ``H`` forecasts back as context (needs no past-only
        covariates). Rollout models feed back one step at a time. ``future`` must hold
        ``(B, horizon, K)`` future covariates when K > 0.
        """
        horizon = horizon or self.horizon
        C, K = self.num_targets, self.future_size
        B = context.shape[0]
        extra = self.input_size - C - K  # P past-only covariates
        if horizon > (self.horizon if self.output == "direct" else 1) and extra:
            raise RnnkitError(
                "forecasting past the trained horizon feeds forecasts back as inputs, which "
                f"needs values for the {extra} past-only covariate(s); use a horizon <= "
                f"{self.horizon}"
            )
        if K and (future is None or future.shape[1] < horizon):
            raise RnnkitError(f"forecast needs {horizon} steps of future covariates")
        # (B, >= horizon, K); an empty stand-in when there are no covariates (never sliced)
        covariates = future if future is not None else context.new_zeros(B, 0, 0)

        def step_input(y: torch.Tensor, k_next: torch.Tensor | None) -> torch.Tensor:
            # y (B, n, C), k_next (B, n, K) -> (B, n, F) with the layout of context steps
            return y if k_next is None else torch.cat([y, k_next], dim=-1)

        if self.output == "direct":
            outs, ctx, done = [], context, 0
            while done < horizon:
                fut = covariates[:, done : done + self.horizon] if K else None
                # pad the last block's covariates
                if fut is not None and fut.shape[1] < self.horizon:
                    pad = fut[:, -1:].expand(-1, self.horizon - fut.shape[1], -1)
                    fut = torch.cat([fut, pad], dim=1)
                y = self.forward(ctx, fut, static_cat, static_num)  # (B, H, C)
                outs.append(y)
                done += self.horizon
                if done < horizon:  # next block: the forecasts become context
                    k_next = covariates[:, done - self.horizon + 1 : done + 1] if K else None
                    if fut is not None and k_next is not None and k_next.shape[1] < self.horizon:
                        k_next = torch.cat([k_next, fut[:, k_next.shape[1] :]], dim=1)
                    ctx = torch.cat([ctx, step_input(y, k_next)], dim=1)[:, -context.shape[1] :]
            return torch.cat(outs, dim=1)[:, :horizon]

        s = self._static(static_cat, static_num)
        level = self._level(context)  # (B, 1, C) or None: fixed for the whole rollout
        out, state = self._run(self._relative(context, level), s)  # (B, L, R)
        last = context[:, -1:, :C]  # (B, 1, C)
        preds = []
        for h in range(horizon):
            y = self.head(out[:, -1:])  # (B, 1, C)
            y = y + last if self.residual else y
            preds.append(y)
            if h + 1 == horizon:
                break
            k_next = covariates[:, h + 1 : h + 2] if K else None
            x = self._relative(step_input(y, k_next), level)  # (B, 1, F)
            if s is not None:
                x = self.static.inputs(x, s)  # type: ignore[union-attr]
            e = self.encoder(x)
            out, state = self.recurrent(e, state, lengths=torch.ones(B, dtype=torch.int64))
            last = y
        return torch.cat(preds, dim=1)  # (B, horizon, C)
