"""Transformer building blocks shared by the hybrid models (CNN+MHA, CCT, MCCT), and CCT's body behind a tokenizer.

Pre-norm encoder layers as in ViT (Dosovitskiy et al. 2021, arXiv 2010.11929) and CCT's sequence pooling (Hassani
et al. 2021, arXiv 2104.05704). Attention is written with plain matmul/softmax rather than ``nn.MultiheadAttention``
so that eval mode never takes a fused fast path: the exported ONNX graph and torch then compute the same thing, and
the state_dict holds only plain, unaliased tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from timm.layers import DropPath, trunc_normal_
from torch import nn

from fer_core.models.blocks import FerClassifier

__all__ = [
    "CompactTransformer",
    "PositionalEmbedding",
    "SelfAttention",
    "SequencePooling",
    "TransformerEncoder",
    "TransformerLayer",
]


class SelfAttention(nn.Module):
    """Multi-head self-attention over a token sequence ``(B, N, dim)``."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        attn = (query * self.scale) @ key.transpose(-2, -1)
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ value).transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj_drop(self.proj(out))


class TransformerLayer(nn.Module):
    """Pre-norm encoder layer: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``, with stochastic depth."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 2.0,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim))
        self.mlp_drop = nn.Dropout(drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp_drop(self.mlp(self.norm2(x))))


class TransformerEncoder(nn.Module):
    """``depth`` encoder layers with linearly increasing stochastic depth, then a final layer norm."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 2.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.layers = nn.Sequential(
            *(TransformerLayer(dim, num_heads, mlp_ratio, drop_rate, attn_drop_rate, rate) for rate in rates)
        )
        self.norm = nn.LayerNorm(dim)
        self.apply(_init_transformer_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.layers(x))


class PositionalEmbedding(nn.Module):
    """A learned embedding added to a fixed-length token sequence (the length follows from the input size)."""

    def __init__(self, num_tokens: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, num_tokens, dim))
        trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"got {x.shape[1]} tokens but the positional embedding was built for {self.weight.shape[1]}: "
                "feed images of the img_size the model was created with"
            )
        return x + self.weight


class SequencePooling(nn.Module):
    """CCT's attention pooling: a learned softmax weighting of the tokens replaces the class token."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.score(x).softmax(dim=1)  # (B, N, 1)
        return (weights.transpose(1, 2) @ x).squeeze(1)


class CompactTransformer(FerClassifier):
    """CCT's body behind a tokenizer, shared by CCT and MCCT: tokens plus a learned positional embedding, a
    transformer encoder, sequence pooling and a linear head.

    A subclass builds its tokenizer, then calls :meth:`build_body`, and turns images into tokens in
    :meth:`tokenize`.
    """

    def build_body(self, num_tokens: int, embed_dim: int, encoder: Callable[[], TransformerEncoder]) -> None:
        """Add the positional embedding, the encoder (built by ``encoder()``), the pooling and the head.

        The encoder comes as a factory so that it is initialised after the positional embedding, as always: the
        same seed then gives the same untrained model.
        """
        self.pos_embed = PositionalEmbedding(num_tokens, embed_dim)
        self.encoder = encoder()
        self.pool = SequencePooling(embed_dim)
        self.num_features = embed_dim
        self.head = nn.Linear(embed_dim, self.num_classes)

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> positionally embedded tokens ``(B, N, embed_dim)``."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoded tokens ``(B, N, embed_dim)``."""
        return self.encoder(self.tokenize(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(x))


def _init_transformer_weights(module: nn.Module) -> None:
    """ViT-style init (truncated normal linear weights, zero bias): trains from scratch more stably than default."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
