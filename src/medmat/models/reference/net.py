"""The reference network: a small FiLM-conditioned CNN that scores answer options by text.

score(image, question, option) = < head([cnn(image | question), q]), embed(option) >

* The question's bag of words gives ``q``; ``q`` sets a per-channel scale and shift
  (FiLM) in every CNN block, so the same convolutions look for different findings when
  asked different tasks (task-conditioned features).
* Options are scored through their TEXT (mean of word embeddings), never through a fixed
  output unit per class: a label word learned on one MAT combination is the same vector
  on every other, which is what lets training on related combinations transfer.
* Pooling keeps a coarse 2x2 grid beside the global mean and max, because some tasks
  ask *where* (laterality) and a fully translation-invariant pool cannot answer that, and
  an attention pool (a learned spatial softmax): a finding fills a small part of the image,
  and averaging over the whole image drowns what its outline looks like (lesion shape).
* Box options (``box-choice`` items): each box is pooled like the whole image
  (``regions.py``: mean, max, attention and a 2x2 grid inside the box) and read by the
  same head; the option vector is the finding's words. A finding the model never learned
  gives every box the score 0 (exact ties), as unseen label words do for classification.
* Group normalisation after each convolution and a per-image standardised input remove
  most per-image intensity and contrast, the cues that differ most between modalities.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import ReferenceConfig


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(min(8, c_out), c_out, affine=False)
        self.film = nn.Linear(dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(q).chunk(2, dim=-1)
        x = self.norm(self.conv(x))
        x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return F.max_pool2d(F.relu(x), 2)


def local_contrast(x: torch.Tensor, k: int = 7) -> torch.Tensor:
    """Image minus its k x k local mean, standardised per image: blobs pop out, shading goes."""
    hp = x - F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
    return (hp - hp.mean(dim=(2, 3), keepdim=True)) / hp.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)


def bag(emb: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """Mean word embedding over the last axis, ignoring padding (id 0)."""
    mask = (ids != 0).to(emb.weight.dtype).unsqueeze(-1)
    return (emb(ids) * mask).sum(-2) / mask.sum(-2).clamp_min(1.0)


class ReferenceNet(nn.Module):
    def __init__(self, cfg: ReferenceConfig, n_rows: int):
        super().__init__()
        d = cfg.dim
        self.words = nn.Embedding(n_rows, d, padding_idx=0)
        # GELU, not ReLU, in the two MLPs: a head whose ReLUs all die gives one constant
        # answer vector, and the model is stuck predicting the label prior (seen on the
        # lesion-shape task before this change)
        self.question = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        widths = (cfg.in_channels, *cfg.channels)
        self.blocks = nn.ModuleList(Block(a, b, d) for a, b in zip(widths[:-1], widths[1:]))
        feat = (3 + 4) * widths[-1] + d  # global mean, max and attention pool; a 2x2 grid of means (where)
        self.attend = nn.Conv2d(widths[-1], 1, 1)  # where to look: a finding is a small part of the image
        self.head = nn.Sequential(nn.Linear(feat, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.option = nn.Linear(d, d)
        self.scale = d ** -0.5
        self.highpass = cfg.highpass

    def grow_vocab(self, rows: torch.Tensor) -> None:
        """Append one embedding row per new word (``rows``: [n_new, dim])."""
        if not len(rows):
            return
        old = self.words.weight.data
        new = torch.cat([old, rows.to(old.dtype)], dim=0)
        self.words = nn.Embedding(new.shape[0], new.shape[1], padding_idx=0)
        self.words.weight.data.copy_(new)

    def forward(self, images: torch.Tensor, q_ids: torch.Tensor, opt_ids: torch.Tensor, opt_mask: torch.Tensor,
                boxes: torch.Tensor | None = None, is_box: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, K] (masked options get -inf).

        images [B, C, S, S] float, standardised; q_ids [B, Lq]; opt_ids [B, K, Lo]; opt_mask [B, K] bool;
        for batches holding box-choice items, boxes [B, K, 4] (0-1) and is_box [B] bool.
        """
        q = self.question(bag(self.words, q_ids))
        x = torch.cat([images, local_contrast(images)], dim=1) if self.highpass else images
        for block in self.blocks:
            x = block(x, q)
        grid = F.adaptive_avg_pool2d(x, 2).flatten(1)  # keeps left/right/top/bottom: laterality
        weights = torch.softmax(self.attend(x).flatten(2), dim=-1)  # [B, 1, H*W]
        attended = (x.flatten(2) * weights).sum(-1)  # the features where the model looks
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), attended, grid, q], dim=-1)
        h = self.head(pooled)  # [B, d]
        o = self.option(bag(self.words, opt_ids))  # [B, K, d]
        logits = torch.einsum("bd,bkd->bk", h, o) * self.scale
        if boxes is not None and is_box is not None and bool(is_box.any()):
            logits = torch.where(is_box[:, None], self._box_logits(x, q, boxes, opt_ids, o), logits)
        return logits.masked_fill(~opt_mask, float("-inf"))

    def _box_logits(self, x: torch.Tensor, q: torch.Tensor, boxes: torch.Tensor, opt_ids: torch.Tensor,
                    o: torch.Tensor) -> torch.Tensor:
        """[B, K]: each box's pooled features through the head, against the finding's vector;
        0 for every box when the finding has no known word (no signal: exact ties)."""
        from .regions import pool_boxes

        feats = pool_boxes(x, self.attend(x), boxes)  # [B, K, 7C]
        k = boxes.shape[1]
        h = self.head(torch.cat([feats, q[:, None].expand(-1, k, -1)], dim=-1))  # [B, K, d]
        known = (opt_ids != 0).any(-1, keepdim=True).to(o.dtype)  # [B, K, 1]
        return (h * o * known).sum(-1) * self.scale


def build_net(cfg: ReferenceConfig, n_rows: int) -> ReferenceNet:
    """A freshly initialised network; the same config (seed included) gives the same weights."""
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(cfg.seed)
        net = ReferenceNet(cfg, n_rows)
    finally:
        torch.random.set_rng_state(gen_state)
    return net
