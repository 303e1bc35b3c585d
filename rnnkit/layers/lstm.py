"""``rnnkit.LSTM``: a drop-in ``torch.nn.LSTM`` with ``lengths`` and a choice of backend."""

from __future__ import annotations

import torch

from rnnkit.layers.base import RecurrentBase
from rnnkit.layers.options import CellOptions


class LSTM(RecurrentBase):
    r"""A multi-layer long short-term memory (LSTM) RNN, drop-in compatible with
    :class:`torch.nn.LSTM`.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{array}{ll}
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t = o_t \odot \tanh(c_t)
        \end{array}

    and with ``proj_size > 0`` then :math:`h_t = W_{hr} h_t`. The input of layer :math:`k > 0`
    is the output of layer :math:`k-1`, with dropout in training when ``dropout > 0``.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        num_layers: stacked layers. Default: 1.
        bias: if False, no ``b_ih`` and ``b_hh``. Default: True.
        batch_first: if True, input and output are ``(B, T, *)`` instead of ``(T, B, *)``
            (not the states). Default: False.
        dropout: dropout probability on the outputs of every layer but the last, in
            training. Default: 0.
        bidirectional: if True, a bidirectional LSTM. Default: False.
        proj_size: if > 0, an LSTM with projections of that size. Default: 0.
        device, dtype: of the parameters.
        backend: ``"auto"`` (the fastest correct backend), ``"native"`` (torch's fused
            kernels: oneDNN / cuDNN), ``"bptt"`` (rnnkit's hand-derived BPTT) or
            ``"reference"`` (autograd through the plain step). Default: ``"auto"``.
        layer_norm, recurrent_dropout, zoneout, weight_drop, peephole: the cell options of
            :mod:`rnnkit.layers.options` (keyword only; Ba et al. 2016 layer norm,
            variational dropout of ``h_{t-1}``, zoneout, DropConnect of ``W_hh``;
            peephole: diagonal ``w_ci, w_cf, w_co``).
            With any of them on, ``auto`` runs rnnkit's BPTT and ``native`` is refused.

    Inputs: input, (h_0, c_0), lengths
        * **input**: ``(L, H_in)`` unbatched, ``(L, N, H_in)`` or with ``batch_first``
          ``(N, L, H_in)``, or a :class:`~torch.nn.utils.rnn.PackedSequence`.
        * **h_0**: ``(D * num_layers, H_out)`` or ``(D * num_layers, N, H_out)``; zeros if
          ``(h_0, c_0)`` is not given.
        * **c_0**: ``(D * num_layers, H_cell)`` or ``(D * num_layers, N, H_cell)``.
        * **lengths**: optional ``(N,)`` int64 in ``[1, L]`` for a right-padded batch: the
          output is zero at padded steps, ``h_n``/``c_n`` are taken at each sequence's last
          real step and the reverse direction starts there (torch's packed semantics,
          without packing).

    Outputs: output, (h_n, c_n)
        * **output**: ``(L, D * H_out)``, ``(L, N, D * H_out)`` or with ``batch_first``
          ``(N, L, D * H_out)``: the last layer's ``h_t`` for every ``t``; a PackedSequence
          for a PackedSequence input.
        * **h_n**: ``(D * num_layers, H_out)`` or ``(D * num_layers, N, H_out)``.
        * **c_n**: ``(D * num_layers, H_cell)`` or ``(D * num_layers, N, H_cell)``.

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1,
    H_in = input_size, H_cell = hidden_size, H_out = proj_size if > 0 else hidden_size.

    Attributes:
        weight_ih_l[k]: ``(4*hidden_size, input_size)`` for k = 0, else
            ``(4*hidden_size, D*H_out)``; gates stacked in the order i, f, g, o.
        weight_hh_l[k]: ``(4*hidden_size, H_out)``.
        bias_ih_l[k], bias_hh_l[k]: ``(4*hidden_size,)``.
        weight_hr_l[k]: ``(proj_size, hidden_size)`` when ``proj_size > 0``.
        (``*_reverse`` for the reverse direction.) All initialised from
        :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/\text{hidden\_size}`.
        last_backend: the backend the latest forward ran on.

    Example::

        >>> rnn = rnnkit.LSTM(10, 20, num_layers=2, batch_first=True)
        >>> x = torch.randn(3, 5, 10)                       # (N, L, H_in)
        >>> out, (h_n, c_n) = rnn(x, lengths=torch.tensor([5, 2, 4]))
        >>> out.shape, h_n.shape
        (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 4
    has_cell_state = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            backend,
            options=CellOptions.named(
                type(self).__name__,
                layer_norm=layer_norm,
                recurrent_dropout=recurrent_dropout,
                zoneout=zoneout,
                weight_drop=weight_drop,
                peephole=peephole,
            ),
        )
