"""The relation-type level of RCF/KDA: self-attention over the R relation slots."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SlotSelfAttention"]


class SlotSelfAttention(nn.Module):
    r"""``num_layers`` weight-tied passes over the relation slots of each (user, candidate)
    (``lrd-reference.md`` §2.2 step 5):

    .. math::
        z \leftarrow \mathrm{LN}\big(z + W_2\,\mathrm{ReLU}(W_1\,\mathrm{MHA}(z, z, z))\big)

    As in the reference: query/key/value projections without bias and without an output
    projection, one residual and one post-LayerNorm per pass, the same weights in every pass.

    Args:
        dim (int): embedding size V.
        num_heads (int): attention heads (``dim`` must be divisible by it).
        num_layers (int): number of weight-tied passes.
        dropout (float): dropout after ``W_2``.
    """

    def __init__(self, dim: int, num_heads: int = 4, num_layers: int = 5, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding size {dim} is not divisible by {num_heads} heads")
        self.dim, self.num_heads, self.num_layers = dim, num_heads, num_layers
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

    def forward(self, z: Tensor) -> Tensor:
        """``z``: ``[M, R, V]`` slot vectors; returns the same shape."""
        M, R, V = z.shape
        h, d = self.num_heads, V // self.num_heads
        for _ in range(self.num_layers):
            q, k, v = self.qkv(z).view(M, R, 3, h, d).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v)  # [M, h, R, d]
            att = att.transpose(1, 2).reshape(M, R, V)
            z = self.norm(z + self.dropout(self.w2(torch.relu(self.w1(att)))))
        return z

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.dim}, num_heads={self.num_heads}, "
                f"num_layers={self.num_layers})")
