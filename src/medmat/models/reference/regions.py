"""Pooling inside boxes: how the reference network looks at one box option.

A box (x1, y1, x2, y2 as 0-1 fractions of the image) is scaled to the feature grid; each
grid cell weighs by the fraction of it the box covers, so a box smaller than a cell still
sees the cell it lies in and boxes move features smoothly. A box is pooled the way the
whole image is for a classification question (global mean, max and attention pool, and
a 2x2 grid of means, here the box's four quadrants), so the same head reads both.
"""

from __future__ import annotations

import torch


def coverage(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """[..., 4] boxes (0-1) -> [..., h*w] fraction of each cell inside the box."""
    xs = torch.arange(w, dtype=boxes.dtype, device=boxes.device)
    ys = torch.arange(h, dtype=boxes.dtype, device=boxes.device)
    x1, y1, x2, y2 = (boxes[..., i:i + 1] for i in range(4))
    ox = (torch.minimum(x2 * w, xs + 1) - torch.maximum(x1 * w, xs)).clamp_min(0).clamp_max(1)  # [..., w]
    oy = (torch.minimum(y2 * h, ys + 1) - torch.maximum(y1 * h, ys)).clamp_min(0).clamp_max(1)  # [..., h]
    return (oy[..., :, None] * ox[..., None, :]).flatten(-2)


def quadrants(boxes: torch.Tensor) -> torch.Tensor:
    """[..., 4] -> [..., 5, 4]: the box itself, then its top-left, top-right, bottom-left and
    bottom-right quarters (the order of a 2x2 adaptive pool, flattened row by row)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    xm, ym = (x1 + x2) / 2, (y1 + y2) / 2
    parts = [(x1, y1, x2, y2), (x1, y1, xm, ym), (xm, y1, x2, ym), (x1, ym, xm, y2), (xm, ym, x2, y2)]
    return torch.stack([torch.stack(p, -1) for p in parts], -2)


def pool_boxes(x: torch.Tensor, attend: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Features of each box: [B, K, (3 + 4) * C], laid out like the whole-image pool.

    x [B, C, H, W] (non-negative: ReLU then max-pool), attend [B, 1, H, W] attention logits,
    boxes [B, K, 4] (0-1)."""
    b, c, h, w = x.shape
    flat = x.flatten(2)  # [B, C, P]
    cov = coverage(quadrants(boxes), h, w)  # [B, K, 5, P]
    means = torch.einsum("bkrp,bcp->bkrc", cov, flat) / cov.sum(-1, keepdim=True).clamp_min(1e-6)
    whole = cov[:, :, 0]  # [B, K, P]
    inside = whole > 0
    peak = (flat[:, None] * inside[:, :, None, :]).amax(-1)  # [B, K, C]
    logits = attend.flatten(2).expand(b, boxes.shape[1], h * w)
    weights = torch.softmax(logits.masked_fill(~inside, float("-inf")), dim=-1) * inside  # a box with no cell: 0
    attended = torch.einsum("bkp,bcp->bkc", weights, flat)
    grid = means[:, :, 1:].transpose(2, 3).flatten(2)  # [B, K, C * 4], channel-major as adaptive_avg_pool2d(x, 2)
    return torch.cat([means[:, :, 0], peak, attended, grid], dim=-1)
