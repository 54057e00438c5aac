"""The CPU reference backbone: training, determinism, resume, save/load, scoring."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from medmat.models import BACKBONES, FitCallback, TrainConfig  # noqa: E402
from medmat.models.reference import ReferenceBackbone, ReferenceConfig, WordTokenizer  # noqa: E402
from medmat.records import LETTERS, VQAItem, format_question_choice  # noqa: E402

SMALL = dict(image_size=16, channels=(8, 16), dim=16, n_hash=64, seed=0)


def _image(kind: str, rng: np.random.Generator) -> np.ndarray:
    """16 px gray image: a bright blob ('mass') or a bright bar ('line') on noise."""
    a = rng.integers(0, 60, size=(16, 16)).astype(np.uint8)
    r, c = rng.integers(3, 11, size=2)
    if kind == "mass":
        a[r - 2 : r + 3, c - 2 : c + 3] = 230
    else:
        a[r, 1:15] = 230
    return a


def make_items(root: Path, n: int = 24, seed: int = 0) -> list[VQAItem]:
    """Half 'mass', half 'line' images, two options each, answer position alternating."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        kind = ("mass", "line")[i % 2]
        rel = f"images/{i:03d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_image(kind, rng)).save(root / rel)
        options = ["mass", "line"] if (i // 2) % 2 == 0 else ["line", "mass"]
        q = "Which finding does this CT image of the lung show?"
        ans = options.index(kind)
        items.append(VQAItem(
            id=i, caption=kind, image=rel, question=q, answer=kind, question_choice=format_question_choice(q, options),
            answer_choice=LETTERS[ans], data_no="t", item_id=f"it{i:03d}", triplet="CT/Lung/Finding", subset="t",
            split="train", dataset="toy", source_record=str(i), options=options, answer_index=ans, labels=[kind],
        ))
    return items


def cfg(**kw) -> TrainConfig:
    base = dict(seed=0, max_steps=40, batch_size=8, lr=3e-3, save_every=1000, extra={"threads": 1})
    base.update(kw)
    return TrainConfig(**base)


def fresh() -> ReferenceBackbone:
    return BACKBONES.get("reference").load(None, threads=1, **SMALL)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, list[VQAItem]]:
    return tmp_path, make_items(tmp_path)


def test_registered_and_untrained_near_chance(data):
    root, items = data
    bb = fresh()
    assert isinstance(bb, ReferenceBackbone)
    scores = bb.score_options(items, root)
    probs = np.exp(np.array(scores))
    # a random init has no idea: every option within a modest band around 1/2
    assert np.all(np.abs(probs - 0.5) < 0.2), probs.round(3)


def test_scores_are_log_probs_of_right_length(data):
    root, items = data
    three = items[0]
    three.options = ["mass", "line", "nodule"]
    scores = fresh().score_options(items, root, batch_size=5)
    assert [len(s) for s in scores] == [it.n_options for it in items]
    for s in scores:
        assert all(v <= 0 for v in s)
        assert math.isclose(sum(math.exp(v) for v in s), 1.0, rel_tol=1e-5)


def test_fit_lowers_loss_and_learns(data, tmp_path):
    root, items = data
    bb = fresh()
    facts = bb.fit(items, root, tmp_path / "run", cfg(max_steps=60))
    assert facts.steps == 60 and facts.n_train == len(items)
    assert facts.final_loss < 0.5 * facts.first_loss
    scores = bb.score_options(items, root)
    acc = np.mean([int(np.argmax(s) == it.answer_index) for s, it in zip(scores, items)])
    assert acc >= 0.9


def test_generate_parses_to_argmax_letter(data, tmp_path):
    root, items = data
    bb = fresh()
    bb.fit(items, root, tmp_path / "run", cfg(max_steps=10))
    scores = bb.score_options(items, root)
    texts = bb.generate(items, root)
    for s, t in zip(scores, texts):
        m = re.fullmatch(r"The answer is ([A-D])\.", t)
        assert m, t
        assert LETTERS.index(m.group(1)) == int(np.argmax(s))


def test_same_seed_same_scores_and_bytes(data, tmp_path):
    root, items = data
    a, b = fresh(), fresh()
    a.fit(items, root, tmp_path / "a", cfg(max_steps=15))
    b.fit(items, root, tmp_path / "b", cfg(max_steps=15))
    assert a.score_options(items, root) == b.score_options(items, root)
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    c = fresh()
    c.fit(items, root, tmp_path / "c", cfg(max_steps=15, seed=1))
    assert c.score_options(items, root) != a.score_options(items, root)


def test_save_load_reproduces_scores_exactly(data, tmp_path):
    root, items = data
    bb = fresh()
    bb.fit(items, root, tmp_path / "run", cfg(max_steps=10))
    bb.save(tmp_path / "saved")
    again = ReferenceBackbone.load(tmp_path / "saved", threads=1)
    assert again.score_options(items, root) == bb.score_options(items, root)
    assert again.tokenizer.vocab == bb.tokenizer.vocab
    # the fit out_dir is itself a loadable model folder
    # (with the same thread count: a different one may change the last bits of a reduction)
    assert ReferenceBackbone.load(tmp_path / "run", threads=1).score_options(items, root) == bb.score_options(items, root)


def test_resume_equals_uninterrupted(data, tmp_path):
    root, items = data
    whole = fresh()
    whole_facts = whole.fit(items, root, tmp_path / "whole", cfg(max_steps=40, save_every=10))
    # a 40-step run (save_every 10) whose process dies at step 25, after the step-20 checkpoint
    resumed_dir = tmp_path / "resumed"
    crashed = fresh()
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(items, root, resumed_dir, cfg(max_steps=40, save_every=10), callbacks=[_InterruptAt(25)])
    assert [p.name for p in (resumed_dir / "checkpoints").iterdir()] == ["step-0000020"]
    resumed = fresh()
    facts = resumed.fit(items, root, resumed_dir, cfg(max_steps=40, save_every=10))
    assert facts.resumed_from == 20
    assert resumed.score_options(items, root) == whole.score_options(items, root)
    assert (resumed_dir / "model.safetensors").read_bytes() == (tmp_path / "whole/model.safetensors").read_bytes()
    assert facts.final_loss == whole_facts.final_loss


class _InterruptAt(FitCallback):
    def __init__(self, at: int):
        self.at = at

    def on_step(self, step: int, total: int, loss: float | None) -> None:
        if step == self.at:
            raise KeyboardInterrupt


def test_checkpoint_of_another_run_is_refused(data, tmp_path):
    root, items = data
    fresh().fit(items, root, tmp_path / "run", cfg(max_steps=20, save_every=10))
    with pytest.raises(ValueError, match="different run"):
        fresh().fit(items[:10], root, tmp_path / "run", cfg(max_steps=20, save_every=10))


def test_unseen_label_word_gets_an_embedding(data, tmp_path):
    root, items = data
    bb = fresh()
    bb.fit(items, root, tmp_path / "run", cfg(max_steps=5))
    tok = bb.tokenizer
    assert tok.is_known("mass") and not tok.is_known("pneumothorax")
    wid = tok.word_id("pneumothorax")
    assert 1 <= wid <= tok.n_hash  # a hash bucket, never padding
    assert wid == WordTokenizer(tok.n_hash).word_id("pneumothorax")  # stable across tokenizers
    row = bb.net.words.weight[wid]
    assert float(row.detach().abs().sum()) > 0
    unseen = items[0]
    unseen.options = ["pneumothorax", "effusion"]
    unseen.answer_index = 0
    (s,) = bb.score_options([unseen], root)
    assert len(s) == 2 and all(np.isfinite(s))


def test_vocab_growth_does_not_change_untrained_function(data, tmp_path):
    """Learning the vocabulary copies hash rows, so a 0-lr fit scores like the fresh model."""
    root, items = data
    before = fresh().score_options(items, root)
    bb = fresh()
    bb.fit(items, root, tmp_path / "run", cfg(max_steps=1, lr=0.0))
    assert len(bb.tokenizer.vocab) > 0
    assert np.allclose(bb.score_options(items, root), before, atol=1e-6)


def test_bad_inputs_are_clear_errors(data, tmp_path):
    root, items = data
    missing = items[0]
    missing.image = "images/nope.png"
    with pytest.raises(ValueError, match="image not found"):
        fresh().score_options([missing], root)
    with pytest.raises(ValueError, match="extra"):
        fresh().fit(items[1:], root, tmp_path / "r", cfg(extra={"nope": 1}))
    saved = tmp_path / "saved"
    fresh().save(saved)
    ReferenceBackbone.load(saved, **SMALL)  # the creation options may be repeated when loading
    with pytest.raises(ValueError, match="only apply to a fresh model"):
        ReferenceBackbone.load(saved, image_size=SMALL.get("image_size", 64) // 2)
    with pytest.raises(ValueError, match="not a reference-model folder"):
        ReferenceBackbone.load(tmp_path)


def test_fresh_models_deterministic_by_seed(data):
    root, items = data
    assert fresh().score_options(items, root) == fresh().score_options(items, root)
    other = BACKBONES.get("reference").load(None, threads=1, **{**SMALL, "seed": 3})
    assert other.score_options(items, root) != fresh().score_options(items, root)
    assert ReferenceConfig(**SMALL).in_channels == 2  # gray + local contrast
    assert ReferenceConfig(**SMALL, highpass=False, color="rgb").in_channels == 3
