"""The relation-type level of RCF/KDA: self-attention over the R relation slots."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SlotSelfAttention", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16")


class SlotSelfAttention(nn.Module):
    r"""``num_layers`` weight-tied passes over the relation slots of each (user, candidate)
    (``lrd-reference.md`` §2.2 step 5):

    .. math::
        z \leftarrow \mathrm{LN}\big(z + W_2\,\mathrm{ReLU}(W_1\,\mathrm{MHA}(z, z, z))\big)

    As in the reference: query/key/value projections without bias and without an output
    projection, one residual and one post-LayerNorm per pass, the same weights in every pass.

    This block is where RCF/KDA spend most of their time (``docs/performance.md``), so it has
    two speed switches that the reference does not have:

    - ``precision='bf16'`` runs the passes under bfloat16 autocast (AMX on recent Xeons, tensor
      cores on GPUs); input and output stay float32, so the intensities before the block and
      the scores after it keep full precision. Scores move by about 1e-3 relative.
    - :meth:`torch.nn.Module.compile` on this module: the attention over the few slots is then
      written as two einsums that inductor fuses, instead of
      :func:`~torch.nn.functional.scaled_dot_product_attention` (faster eagerly, slower compiled).

    Args:
        dim (int): embedding size V.
        num_heads (int): attention heads (``dim`` must be divisible by it).
        num_layers (int): number of weight-tied passes.
        dropout (float): dropout after ``W_2``.
        precision (str): ``fp32`` (reference) or ``bf16``.
    """

    def __init__(self, dim: int, num_heads: int = 4, num_layers: int = 5, dropout: float = 0.0,
                 precision: str = "fp32") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding size {dim} is not divisible by {num_heads} heads")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.dim, self.num_heads, self.num_layers = dim, num_heads, num_layers
        self.precision = precision
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.w1 = nn.Linear(dim, dim)
        self.w2 = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # the reference initialises every Linear weight and bias with N(0, 0.01)
        for lin in (self.qkv, self.w1, self.w2):
            nn.init.normal_(lin.weight, std=0.01)
            if lin.bias is not None:
                nn.init.normal_(lin.bias, std=0.01)
        self.norm.reset_parameters()

    def attention(self, z: Tensor) -> Tensor:
        """Multi-head attention of the slots ``[M, R, V]`` over each other (no output
        projection)."""
        M, R, V = z.shape
        h, d = self.num_heads, V // self.num_heads
        if torch.compiler.is_compiling():
            q, k, v = self.qkv(z).view(M, R, 3, h, d).unbind(2)
            a = (torch.einsum("mihd,mjhd->mhij", q, k) * d ** -0.5).softmax(dim=-1)
            return torch.einsum("mhij,mjhd->mihd", a, v).reshape(M, R, V)
        q, k, v = self.qkv(z).view(M, R, 3, h, d).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v)  # [M, h, R, d]
        return att.transpose(1, 2).reshape(M, R, V)

    def forward(self, z: Tensor) -> Tensor:
        """``z``: ``[M, R, V]`` slot vectors; returns the same shape and dtype."""
        dtype = z.dtype
        with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            for _ in range(self.num_layers):
                z = self.norm(z + self.dropout(self.w2(torch.relu(self.w1(self.attention(z))))))
        return z.to(dtype)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.dim}, num_heads={self.num_heads}, "
                f"num_layers={self.num_layers}, precision={self.precision!r})")
