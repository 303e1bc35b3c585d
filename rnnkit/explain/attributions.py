"""Attributions per time step: Integrated Gradients and gradient x input, with Captum.

Both methods explain one scalar of a model (a class logit, a forecast value) as a sum of
contributions of its input steps. The model is given as a function of a continuous input
``x`` of shape ``(1, T, D)``: the token embeddings of a text model (so ``D`` is the
embedding size and the attribution of a token is the sum over its embedding), or the
features of a time series. Contributions are summed over ``D``: one score per time step.

Integrated Gradients (Sundararajan et al. 2017) integrates the gradient along the straight
path from a baseline ``x'`` (pad embeddings, or zeros) to ``x``; it is *complete*:

.. math::
    \\sum_t a_t = f(x) - f(x')

up to the error of the numerical integral (Gauss-Legendre). :func:`integrated_gradients`
reports that gap as ``delta`` and, unless ``n_steps`` is fixed, refines the integral until
``|delta| <= rtol * max(|f(x) - f(x')|, 1)``: where the model's output turns sharply along
the path (a recurrent net can flip within a thousandth of it), the points are moved there.

Gradient x input (``x * df/dx``) is one backward pass; it is a first-order view and is
not complete, so it carries no ``delta``.

Recurrent kernels and gradients in eval mode: on CPU torch's fused RNN kernels run
backward in eval mode. cuDNN's RNN backward refuses eval mode, so on CUDA the attribution
runs with cuDNN switched off (same numbers, the plain CUDA kernels), keeping eval
semantics (no dropout).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from captum.attr import InputXGradient, IntegratedGradients

# f(x (N, T, D), *extra) -> (N,): the scalar explained, for each of N inputs.
ScalarFn = Callable[..., torch.Tensor]

DEFAULT_RTOL = 0.01  # completeness tolerance, relative to max(|f(x) - f(x')|, 1)
MAX_STEPS = 1024  # the most integration points the automatic choice will use
SEGMENTS = 8  # steep paths: split into this many stretches of equal change of f ...
GRID = 256  # ... located on a grid of this many cells


@dataclass
class Attribution:
    """The attribution of one scalar output to the steps of one input sequence.

    Attributes:
        method: ``"integrated_gradients"`` or ``"grad_x_input"``.
        scores: ``(T,)`` float tensor, one contribution per time step (summed over the
            step's features / embedding).
        output: ``f(x)``, the explained scalar on the input.
        baseline_output: ``f(x')`` on the baseline (``nan`` for gradient x input).
        delta: completeness gap ``sum(scores) - (f(x) - f(x'))`` (IG only, else None).
        n_steps: integration points used, over all segments (IG); 1 for gradient x input.
        segments: path segments the points were spread over (1 unless the path is steep).
    """

    method: str
    scores: torch.Tensor
    output: float
    baseline_output: float
    delta: float | None
    n_steps: int
    segments: int = 1

    @property
    def total(self) -> float:
        """``sum(scores)``: for IG, ``f(x) - f(x')`` up to ``delta``."""
        return float(self.scores.sum())

    @property
    def relative_delta(self) -> float | None:
        """``|delta| / max(|f(x) - f(x')|, 1)``: the gap the tolerance is stated in."""
        if self.delta is None:
            return None
        return abs(self.delta) / max(abs(self.output - self.baseline_output), 1.0)


@contextlib.contextmanager
def gradients_in_eval(model: torch.nn.Module) -> Iterator[None]:
    """Let ``model`` (in eval mode) be differentiated: cuDNN off on CUDA, grad enabled."""
    cuda = any(p.is_cuda for p in model.parameters())
    with torch.enable_grad():
        if cuda:
            with torch.backends.cudnn.flags(enabled=False):
                yield
        else:
            yield


def _check_input(x: torch.Tensor, baseline: torch.Tensor | None) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (1, T, D) tensor (one sequence), got {shape}")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point (embeddings or features), got {x.dtype}")
    if baseline is not None and baseline.shape != x.shape:
        raise ValueError(
            f"baseline must have the shape of x {tuple(x.shape)}, got {tuple(baseline.shape)}"
        )


def integrated_gradients(
    fn: ScalarFn,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    extra: tuple = (),
    n_steps: int | None = None,
    rtol: float = DEFAULT_RTOL,
    internal_batch_size: int | None = 64,
) -> Attribution:
    """Integrated Gradients of ``fn`` at ``x`` against ``baseline``, summed per time step.

    Args:
        fn: ``fn(x (N, T, D), *extra) -> (N,)`` the scalar to explain. Tensors in ``extra``
            with a batch dimension (e.g. ``lengths (1,)``) are repeated by Captum.
        x: ``(1, T, D)`` the input (embeddings or features).
        baseline: ``(1, T, D)`` the reference input; zeros when None.
        extra: further arguments of ``fn`` (e.g. ``(lengths,)``).
        n_steps: integration steps; None chooses them: 32 along the whole path; if the
            relative completeness gap is above ``rtol``, the path is steep somewhere, so it
            is cut into stretches of equal change of ``fn`` (:func:`_steep_cuts`) and the
            points per stretch are doubled until the gap is within ``rtol`` or
            ``MAX_STEPS`` points are used.
        rtol: the completeness tolerance for the automatic choice.
        internal_batch_size: how many path points run through the model at once.

    Returns:
        :class:`Attribution` with ``scores (T,)`` and the completeness ``delta``.
    """
    _check_input(x, baseline)
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if baseline is None:
        baseline = torch.zeros_like(x)
    x = x.detach()
    baseline = baseline.detach()
    ig = IntegratedGradients(fn)
    with torch.no_grad():
        out = float(fn(x, *extra).reshape(-1)[0])
        base_out = float(fn(baseline, *extra).reshape(-1)[0])

    def run(cuts: list[float], steps: int) -> Attribution:
        """IG summed over the path segments ``[cuts[i], cuts[i+1]]`` (IG is additive)."""
        scores = torch.zeros(x.shape[1], dtype=torch.float64)
        for a0, a1 in zip(cuts[:-1], cuts[1:]):
            attr = ig.attribute(
                baseline + a1 * (x - baseline),
                baselines=baseline + a0 * (x - baseline),
                additional_forward_args=extra or None,
                n_steps=steps,
                method="gausslegendre",
                internal_batch_size=internal_batch_size,
            )
            scores += attr.detach().sum(dim=-1)[0].double().cpu()  # (T,)
        return Attribution(
            method="integrated_gradients",
            scores=scores.float(),
            output=out,
            baseline_output=base_out,
            delta=float(scores.sum()) - (out - base_out),
            n_steps=steps * (len(cuts) - 1),
            segments=len(cuts) - 1,
        )

    if n_steps is not None:
        return run([0.0, 1.0], n_steps)
    result = run([0.0, 1.0], 32)
    if (result.relative_delta or 0.0) <= rtol:
        return result
    # A steep stretch of the path: put the points where f changes (see _steep_cuts).
    cuts = _steep_cuts(fn, x, baseline, extra, internal_batch_size or 64)
    steps = 16  # per segment
    while True:
        result = run(cuts, steps)
        if (result.relative_delta or 0.0) <= rtol or result.n_steps >= MAX_STEPS:
            return result
        steps *= 2


def _steep_cuts(
    fn: ScalarFn, x: torch.Tensor, baseline: torch.Tensor, extra: tuple, batch: int
) -> list[float]:
    """Cut points in [0, 1] that split the path into ``SEGMENTS`` stretches of equal change
    of ``f`` (measured on a grid of ``GRID`` points), with every grid cell that holds a
    large share of the change made a stretch of its own."""
    alphas = torch.linspace(0.0, 1.0, GRID + 1, dtype=x.dtype, device=x.device)
    values = []
    with torch.no_grad():
        for chunk in alphas.split(batch):
            n = len(chunk)
            path = baseline + chunk[:, None, None] * (x - baseline)  # (n, T, D)
            more = [
                a.repeat(n, *([1] * (a.dim() - 1)))
                if isinstance(a, torch.Tensor) and a.dim() and a.shape[0] == 1
                else a
                for a in extra
            ]
            values.append(fn(path, *more).reshape(-1).double().cpu())
    change = torch.cat(values).diff().abs()  # (GRID,)
    share = change / change.sum().clamp_min(1e-12)
    cumulative = torch.cat([torch.zeros(1, dtype=torch.float64), share.cumsum(0)])  # (GRID+1,)
    grid = alphas.double().cpu()
    cuts = {0.0, 1.0}
    for k in range(1, SEGMENTS):
        i = min(int(torch.searchsorted(cumulative, k / SEGMENTS)), GRID)
        cuts.add(float(grid[i]))
    for i in torch.nonzero(share > 0.5 / SEGMENTS).flatten().tolist():
        cuts.update((float(grid[i]), float(grid[i + 1])))
    return sorted(cuts)


def grad_x_input(fn: ScalarFn, x: torch.Tensor, *, extra: tuple = ()) -> Attribution:
    """Gradient x input saliency of ``fn`` at ``x``, summed per time step.

    Args:
        fn: ``fn(x (N, T, D), *extra) -> (N,)`` the scalar to explain.
        x: ``(1, T, D)`` the input.
        extra: further arguments of ``fn``.

    Returns:
        :class:`Attribution` with ``scores (T,)`` (``delta`` None: not a complete method).
    """
    _check_input(x, None)
    x = x.detach().clone().requires_grad_(True)
    attr = InputXGradient(fn).attribute(x, additional_forward_args=extra or None)
    with torch.no_grad():
        out = float(fn(x, *extra).reshape(-1)[0])
    return Attribution(
        method="grad_x_input",
        scores=attr.detach().sum(dim=-1)[0].float().cpu(),  # (T,)
        output=out,
        baseline_output=float("nan"),
        delta=None,
        n_steps=1,
    )
