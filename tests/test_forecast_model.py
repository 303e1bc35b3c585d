"""The forecaster: direct and rollout heads, level-free residual, covariates, static fusion."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.static import StaticFusion

CFG = ForecasterConfig(cell="lstm", hidden_size=8, num_layers=1, embedding_dim=6)


def make(output: str = "direct", **kw) -> Forecaster:
    torch.manual_seed(0)
    args = {"input_size": 2, "num_targets": 1, "horizon": 3, "output": output}
    return Forecaster.from_config(kw.pop("cfg", CFG), **{**args, **kw}).eval()


def test_direct_shapes_and_naive_start() -> None:
    m = make()
    ctx = torch.randn(4, 10, 2)
    assert m(ctx).shape == (4, 3, 1)
    torch.nn.init.zeros_(m.head.weight)
    torch.nn.init.zeros_(m.head.bias)
    # a zero head is the naive forecast: the last observed target value, repeated
    assert torch.allclose(m.forecast(ctx), ctx[:, -1:, :1].expand(-1, 3, -1))


def test_residual_model_is_level_free() -> None:
    m = make()
    ctx = torch.randn(2, 10, 2)
    shifted = ctx.clone()
    shifted[..., 0] += 5.0  # move the target channel only
    assert torch.allclose(m(shifted), m(ctx) + 5.0, atol=1e-5)


def test_rollout_forecast_equals_rerunning_the_whole_sequence() -> None:
    m = make("rollout", input_size=1)
    ctx = torch.randn(3, 7, 1)
    f = m.forecast(ctx, horizon=4)  # (3, 4, 1), state carried step by step
    assert f.shape == (3, 4, 1)
    # teacher-forcing on the forecasts themselves must reproduce them
    steps = m(ctx, teacher=f[:, :-1])  # (3, 7 + 3, 1)
    assert torch.allclose(steps[:, 6:], f, atol=1e-5)


def test_direct_beyond_the_trained_horizon_chains_blocks() -> None:
    m = make(input_size=1)
    ctx = torch.randn(2, 8, 1)
    long = m.forecast(ctx, horizon=7)
    assert long.shape == (2, 7, 1)
    assert torch.allclose(long[:, :3], m(ctx))
    ctx2 = torch.cat([ctx, long[:, :3]], dim=1)[:, -8:]
    assert torch.allclose(long[:, 3:6], m(ctx2), atol=1e-5)


def test_future_covariates_reach_the_direct_head() -> None:
    m = make(input_size=2, future_size=1)
    ctx = torch.randn(2, 8, 2)
    fut = torch.randn(2, 3, 1)
    assert not torch.allclose(m(ctx, fut), m(ctx, fut + 1.0))
    with pytest.raises(RnnkitError, match=r"needs future covariates \(B, 3, 1\)"):
        m(ctx)


def test_past_covariates_refuse_feeding_back() -> None:
    m = make(input_size=2)  # one target + one past covariate
    with pytest.raises(RnnkitError, match="past-only covariate"):
        m.forecast(torch.randn(1, 8, 2), horizon=6)


@pytest.mark.parametrize("fusion", ["concat", "init"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_static_features_change_the_forecast(fusion: str, cell: str) -> None:
    cfg = ForecasterConfig(cell=cell, hidden_size=8, num_layers=2, embedding_dim=6)
    m = make(cfg=cfg, input_size=1, static_cardinalities=[3], static_numeric=1,
             static_fusion=fusion)  # fmt: skip
    assert m.static is not None and m.static.mode == fusion
    ctx = torch.randn(2, 8, 1).expand(2, 8, 1).contiguous()
    ctx[1] = ctx[0]
    cat = torch.tensor([[1], [2]])
    num = torch.tensor([[0.5], [0.5]])
    y = m(ctx, static_cat=cat, static_num=num)
    assert not torch.allclose(y[0], y[1])  # same history, different series
    y2 = m(ctx, static_cat=torch.tensor([[1], [1]]), static_num=num)
    assert torch.allclose(y2[0], y2[1])


def test_init_fusion_state_shapes_and_cell_check() -> None:
    f = StaticFusion("init", [4], 2, 5, cell="lstm", hidden_size=7, num_layers=2,
                     num_directions=2)  # fmt: skip
    s = f.encode(torch.tensor([[1], [3], [0]]), torch.randn(3, 2))
    h0, c0 = f.initial_state(s)
    assert h0.shape == c0.shape == (4, 3, 7)
    assert f.inputs(torch.randn(3, 5, 2), s).shape == (3, 5, 2)
    g = StaticFusion("concat", [], 2, 5)
    assert g.initial_state(s) is None and g.inputs(torch.randn(3, 5, 2), s).shape == (3, 5, 7)
    with pytest.raises(ValueError, match="torch.nn's state layout"):
        StaticFusion("init", [2], 0, 4, cell="mingru", hidden_size=4)
    with pytest.raises(ValueError, match="concat, init"):
        StaticFusion("sum", [2], 0, 4)


def test_config_errors() -> None:
    with pytest.raises(RnnkitError, match="model.output"):
        make("sideways")
    with pytest.raises(RnnkitError, match="bidirectional"):
        make("rollout", cfg=ForecasterConfig(hidden_size=4, embedding_dim=4, bidirectional=True))


def test_a_seasonal_direct_model_starts_at_the_seasonal_naive_forecast() -> None:
    m = make(horizon=5, residual="seasonal", season=3)
    for p in m.head.parameters():  # the head's change is zero: the output is the base
        torch.nn.init.zeros_(p)
    ctx = torch.randn(2, 7, 2)
    expected = ctx[:, [4, 5, 6, 4, 5], :1]  # y[t - 3 + (h mod 3)], t = 7
    torch.testing.assert_close(m(ctx), expected)
    with pytest.raises(RnnkitError, match=r"at least one season \(3 steps\) of context, got 2"):
        m(ctx[:, :2])
    with pytest.raises(RnnkitError, match="residual=seasonal needs model.output=direct"):
        make("rollout", residual="seasonal", season=3)
