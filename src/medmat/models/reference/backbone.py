"""``ReferenceBackbone``: the CPU reference model behind the common Backbone interface.

torch is imported lazily (inside methods), so registering the backbone costs nothing
and importing medmat.models never pulls torch.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from medmat.models.base import Backbone, FitCallback, FitResult, TrainConfig
from medmat.records import LETTERS, VQAItem

from .config import ReferenceConfig, ReferenceTrainExtra, resolve_threads
from .tokenizer import WordTokenizer

if TYPE_CHECKING:
    from .net import ReferenceNet


@contextlib.contextmanager
def torch_settings(threads: int) -> Iterator[None]:
    """Thread count and deterministic algorithms for the duration of one call only:
    global torch state is restored afterwards (no side effects beyond the call). The one
    process-wide setting is the C allocator's (``medmat.runtime.tune_allocator``): freed
    activation memory is kept for reuse, which only changes speed."""
    import torch

    from medmat.runtime import tune_allocator

    tune_allocator()
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


class ReferenceBackbone(Backbone):
    """Small FiLM CNN + word-embedding option scorer (see docs/reference-model.md).

    ``ReferenceBackbone.load(None, **ReferenceConfig fields)`` is the untrained model of
    the zero-shot arm; ``load(folder)`` restores a saved one with identical scores.
    """

    name = "reference"
    parallel_fits = True  # one training uses 1-2 cores poorly; a study runs several at once

    def __init__(self, config: ReferenceConfig | None = None, threads: int | None = None,
                 tokenizer: WordTokenizer | None = None, net: "ReferenceNet | None" = None):
        """A fresh model from ``config``, or the given trained ``tokenizer`` and ``net``."""
        from .net import build_net

        self.config = config or ReferenceConfig()
        self.threads = threads
        self.tokenizer = tokenizer or WordTokenizer(self.config.n_hash)
        self.net: ReferenceNet = net if net is not None else build_net(self.config, len(self.tokenizer))
        self.net.eval()

    # -- state ----------------------------------------------------------------------------
    def save(self, out_dir: Path) -> None:
        from .checkpoint import write_model

        write_model(Path(out_dir), self.config, self.tokenizer, self.net.state_dict())

    @classmethod
    def load(cls, path: Path | None, *, seed: int = 0, **kwargs: Any) -> "ReferenceBackbone":
        """``path=None``: fresh model from ReferenceConfig fields in ``kwargs`` (plus
        ``threads``), initialised with ``seed`` unless ``kwargs`` names one; otherwise a
        folder written by ``save`` (or a fit's out_dir)."""
        threads = kwargs.pop("threads", None)
        if path is None:
            return cls(ReferenceConfig.model_validate({"seed": seed, **kwargs}), threads=threads)
        from .checkpoint import read_model
        from .net import ReferenceNet

        cfg, tok, state = read_model(Path(path))
        # the same options a study passes when creating the model may be passed again when
        # loading it (so callers need not know which backbone they hold); they must agree
        given = ReferenceConfig.model_validate({**cfg.model_dump(), **kwargs})
        if given != cfg:
            diff = sorted(k for k in kwargs if getattr(given, k) != getattr(cfg, k))
            raise ValueError(f"options {diff} differ from the saved model in {path}; "
                             "architecture options only apply to a fresh model (path=None)")
        net = ReferenceNet(cfg, len(tok))
        net.load_state_dict(state, strict=True)
        return cls(cfg, threads=threads, tokenizer=tok, net=net)

    # -- training -------------------------------------------------------------------------
    def fit(self, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
            callbacks: Sequence[FitCallback] = ()) -> FitResult:
        """Train (resuming from ``out_dir/checkpoints`` if a matching run left one there)
        and save the result to ``out_dir``."""
        from .rl import ReferenceRLExtra, fit_rl
        from .train import ModelState, fit

        rl = cfg.method == "grpo"  # policy gradient over the options (rl.py); otherwise supervised
        extra = (ReferenceRLExtra if rl else ReferenceTrainExtra).model_validate(cfg.extra)
        threads = resolve_threads(extra.threads if extra.threads is not None else self.threads)
        with torch_settings(threads):
            state, result = (fit_rl if rl else fit)(ModelState(self.config, self.tokenizer, self.net), train,
                                                    Path(store_root), Path(out_dir), cfg, callbacks)
        self.config, self.tokenizer, self.net = state.config, state.tokenizer, state.net
        result.details["threads"] = threads
        from medmat.runtime import tune_allocator

        result.details["malloc_tuned"] = tune_allocator()["tuned"]
        return result

    # -- answering ------------------------------------------------------------------------
    def score_options(self, items: Sequence[VQAItem], store_root: Path, batch_size: int = 8) -> list[list[float]]:
        """Log-softmax over each item's options (length ``item.n_options``)."""
        import torch

        from .encode import encode_items
        from .images import ImageCache, to_input

        if not items:
            return []
        with torch_settings(resolve_threads(self.threads)), torch.no_grad():
            enc = encode_items(items, self.tokenizer)
            cache = ImageCache(items, Path(store_root), self.config.image_size, self.config.color)
            rows = torch.tensor(cache.rows(items), dtype=torch.long)
            self.net.eval()
            out: list[list[float]] = []
            for start in range(0, len(items), max(1, batch_size)):
                idx = torch.arange(start, min(len(items), start + max(1, batch_size)))
                q, o, m, _ = enc.take(idx)
                logp = torch.log_softmax(self.net(to_input(cache.pixels[rows[idx]]), q, o, m, **enc.geometry(idx)),
                                         dim=-1)
                for j, i in enumerate(idx.tolist()):
                    out.append([float(v) for v in logp[j, : enc.n_options[i]]])
        return out

    def generate(self, items: Sequence[VQAItem], store_root: Path, max_new_tokens: int = 16, batch_size: int = 8) -> list[str]:
        """'The answer is X.' with X the best-scored letter, so generation goes through the
        same answer parser as the LLM backbones."""
        scores = self.score_options(items, store_root, batch_size=batch_size)
        return [f"The answer is {LETTERS[max(range(len(s)), key=s.__getitem__)]}." for s in scores]
