"""``rnnkit.GRU``: a drop-in ``torch.nn.GRU`` with ``lengths`` and a choice of backend."""

from __future__ import annotations

import torch

from rnnkit.layers.base import RecurrentBase
from rnnkit.layers.options import CellOptions


class GRU(RecurrentBase):
    r"""A multi-layer gated recurrent unit (GRU) RNN, drop-in compatible with
    :class:`torch.nn.GRU`.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{array}{ll}
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{array}

    The input of layer :math:`k > 0` is the output of layer :math:`k-1`, with dropout in
    training when ``dropout > 0``.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        num_layers: stacked layers. Default: 1.
        bias: if False, no ``b_ih`` and ``b_hh``. Default: True.
        batch_first: if True, input and output are ``(B, T, *)`` instead of ``(T, B, *)``
            (not the states). Default: False.
        dropout: dropout probability on the outputs of every layer but the last, in
            training. Default: 0.
        bidirectional: if True, a bidirectional GRU. Default: False.
        device, dtype: of the parameters.
        backend: ``"auto"``, ``"native"``, ``"bptt"`` or ``"reference"`` (see
            :class:`rnnkit.LSTM`). Default: ``"auto"``.
        layer_norm, recurrent_dropout, zoneout, weight_drop: the cell options of
            :mod:`rnnkit.layers.options` (keyword only; Ba et al. 2016 layer norm,
            variational dropout of ``h_{t-1}``, zoneout, DropConnect of ``W_hh``;
            ``peephole=True`` is refused: it applies to LSTM only).
            With any of them on, ``auto`` runs rnnkit's BPTT and ``native`` is refused.

    Inputs: input, h_0, lengths
        * **input**: ``(L, H_in)`` unbatched, ``(L, N, H_in)`` or with ``batch_first``
          ``(N, L, H_in)``, or a :class:`~torch.nn.utils.rnn.PackedSequence`.
        * **h_0**: ``(D * num_layers, H_out)`` or ``(D * num_layers, N, H_out)``; zeros if
          not given.
        * **lengths**: optional ``(N,)`` int64 in ``[1, L]`` for a right-padded batch: the
          output is zero at padded steps, ``h_n`` is taken at each sequence's last real step
          and the reverse direction starts there.

    Outputs: output, h_n
        * **output**: ``(L, D * H_out)``, ``(L, N, D * H_out)`` or with ``batch_first``
          ``(N, L, D * H_out)``; a PackedSequence for a PackedSequence input.
        * **h_n**: ``(D * num_layers, H_out)`` or ``(D * num_layers, N, H_out)``.

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1,
    H_in = input_size, H_out = hidden_size.

    Attributes:
        weight_ih_l[k]: ``(3*hidden_size, input_size)`` for k = 0, else
            ``(3*hidden_size, D*hidden_size)``; gates stacked in the order r, z, n.
        weight_hh_l[k]: ``(3*hidden_size, hidden_size)``.
        bias_ih_l[k], bias_hh_l[k]: ``(3*hidden_size,)``.
        (``*_reverse`` for the reverse direction.) All initialised from
        :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/\text{hidden\_size}`.
        last_backend: the backend the latest forward ran on.

    Example::

        >>> rnn = rnnkit.GRU(10, 20, bidirectional=True)
        >>> out, h_n = rnn(torch.randn(5, 3, 10))            # (L, N, H_in)
        >>> out.shape, h_n.shape
        (torch.Size([5, 3, 40]), torch.Size([2, 3, 20]))
    """

    gate_count = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
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
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
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
