"""KDA: relation-aware attention with a learned time-gap decay (``lrd-reference.md`` §3)."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from .relational import RelationalRecommender

__all__ = ["KDA", "dft_decay"]


def dft_decay(tau: Tensor, freq_real: Tensor, freq_imag: Tensor) -> Tensor:
    r"""The decay :math:`D_r(\tau)` of every relation r at the gaps ``tau`` (log2 minutes, any
    shape ``[...]``) from the DFT coefficients ``[R, F]``: returns ``[..., R]`` in [0, 1]
    (the formula in :class:`KDA`)."""
    n_freq = freq_real.shape[1]
    freqs = torch.arange(n_freq, dtype=tau.dtype, device=tau.device) / (2 * (n_freq - 1))
    angle = 2 * math.pi * tau.unsqueeze(-1) * freqs  # [..., F]
    d = torch.cos(angle) @ freq_real.t() - torch.sin(angle) @ freq_imag.t()
    return (d / (2 * n_freq)).clamp(0, 1)


class KDA(RelationalRecommender):
    r"""Knowledge-aware Dynamic Attention (Wang et al., TOIS 2020), as in the LRD reference.

    Identical to :class:`RCF` except that the item-level attention of relation r is multiplied
    by a learned decay of the time gap :math:`\tau` (log2 of minutes between history item and
    target), a real inverse DFT evaluated at :math:`\tau`:

    .. math::
        D_r(\tau) = \mathrm{clamp}_{[0,1]} \frac{1}{2F}\sum_{j=0}^{F-1}
            \big[a_{r,j}\cos(2\pi f_j \tau) - b_{r,j}\sin(2\pi f_j \tau)\big],
        \quad f_j = \frac{j}{2(F-1)}

    Note:
        ``a`` and ``b`` start at N(0, 0.01) as with the reference's ``freq_rand=1``; the
        histogram-based initialisation (``freq_rand=0``) is not implemented.

    Args:
        n_dft (int): DFT size; F = n_dft / 2 + 1 frequencies.
        **kwargs: see :class:`RelationalRecommender`.
    """

    uses_time_decay = True

    def __init__(self, *args, n_dft: int = 64, **kwargs) -> None:
        self.n_freq = n_dft // 2 + 1
        super().__init__(*args, **kwargs)
        R = self.layout.num_relations
        self.freq_real = nn.Parameter(torch.empty(R, self.n_freq))
        self.freq_imag = nn.Parameter(torch.empty(R, self.n_freq))
        self.reset_decay()

    def reset_decay(self) -> None:
        nn.init.normal_(self.freq_real, std=0.01)
        nn.init.normal_(self.freq_imag, std=0.01)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "freq_real"):
            self.reset_decay()

    def time_decay(self, batch: Dict[str, Tensor], history: Tensor) -> Optional[Tensor]:
        gap = (batch["time"].unsqueeze(1) - batch["history_time"]).float()  # seconds, [B, H]
        tau = torch.log2(gap.clamp_min(0) / 60.0 + 1e-6).clamp_min(0)
        d = dft_decay(tau, self.freq_real, self.freq_imag)  # [B, H, R]
        return d * (history < self.layout.num_items).unsqueeze(-1)
