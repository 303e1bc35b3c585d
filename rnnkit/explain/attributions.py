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

up to the error of the numerical integral. :func:`integrated_gradients` reports that gap
as ``delta`` and, unless ``n_steps`` is fixed, doubles the number of integration steps
until ``|delta| <= rtol * max(|f(x) - f(x')|, 1)``.

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
MAX_STEPS = 1024  # the most integration steps the automatic choice will use


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
        n_steps: integration steps used (IG), 1 for gradient x input.
    """

    method: str
    scores: torch.Tensor
    output: float
    baseline_output: float
    delta: float | None
    n_steps: int

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
        n_steps: integration steps; None chooses them: 32, doubled until the relative
            completeness gap is at most ``rtol`` (or ``MAX_STEPS`` is reached).
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
    steps = n_steps or 32
    while True:
        attr, delta = ig.attribute(
            x,
            baselines=baseline,
            additional_forward_args=extra or None,
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        result = Attribution(
            method="integrated_gradients",
            scores=attr.detach().sum(dim=-1)[0].float().cpu(),  # (T,)
            output=out,
            baseline_output=base_out,
            delta=float(delta.reshape(-1)[0]),
            n_steps=steps,
        )
        rel = result.relative_delta or 0.0
        if n_steps is not None or rel <= rtol or steps >= MAX_STEPS:
            return result
        steps *= 2


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
