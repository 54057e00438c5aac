"""The CPU reference model on box-choice items (issue 11, point 5): boxes pooled from the
feature map, chance by construction for a finding it never learned, and learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from medmat.models import BACKBONES, TrainConfig  # noqa: E402
from medmat.models.reference.encode import encode_items  # noqa: E402
from medmat.models.reference.images import augment, move_boxes  # noqa: E402
from medmat.models.reference.regions import coverage, pool_boxes  # noqa: E402
from medmat.models.reference.tokenizer import WordTokenizer  # noqa: E402
from medmat.records import LETTERS, VQAItem, format_question_choice  # noqa: E402

SMALL = dict(image_size=32, channels=(8, 16), dim=16, seed=0)
CELLS = [(0, 0), (0, 2), (2, 0), (2, 2)]  # quarter-image boxes, row/col in a 4x4 grid of 8 px cells


def make_box_items(root: Path, n: int = 24, finding: str = "polyp", seed: int = 0) -> list[VQAItem]:
    """32 px images with one bright blob in one of four quarter boxes; the correct letter
    cycles A..D (letter-balanced like the builder)."""
    rng = np.random.default_rng(seed)
    boxes = [[c / 4, r / 4, c / 4 + 0.5, r / 4 + 0.5] for r, c in CELLS]
    items = []
    for i in range(n):
        ans = i % 4
        a = rng.integers(0, 60, size=(32, 32)).astype(np.uint8)
        x1, y1 = int(boxes[ans][0] * 32) + 4, int(boxes[ans][1] * 32) + 4
        a[y1:y1 + 6, x1:x1 + 6] = 230
        rel = f"images/b{seed}-{i:03d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(root / rel)
        options = [f"[{int(b[0] * 1000)}, {int(b[1] * 1000)}, {int(b[2] * 1000)}, {int(b[3] * 1000)}]" for b in boxes]
        q = f"Which box contains the {finding}?"
        items.append(VQAItem(
            id=i, caption=finding, image=rel, question=q, answer=options[ans],
            question_choice=format_question_choice(q, options), answer_choice=LETTERS[ans], data_no="b",
            item_id=f"b{seed}-{i:03d}", triplet="CT/Lung/Finding Localisation", subset="b", split="train",
            dataset="toy", source_record=str(i), options=options, answer_index=ans, labels=[finding],
            kind="box-choice", option_boxes=[list(b) for b in boxes], answer_box=list(boxes[ans]), image_size=[32, 32]))
    return items


def fresh(seed: int = 0):
    return BACKBONES.get("reference").load(None, threads=1, **{**SMALL, "seed": seed})


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(seed=0, max_steps=60, batch_size=8, lr=3e-3, save_every=1000,
                                 extra={"threads": 1}), **kw})


def _accuracy(bb, items, root) -> float:
    scores = bb.score_options(items, root)
    return float(np.mean([int(np.argmax(s)) == it.answer_index for s, it in zip(scores, items)]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_untrained_model_ties_on_box_choice_and_is_at_chance(tmp_path, seed):
    """A finding the model never learned gives every box the same score (bitwise): the
    earliest letter wins, and the letter balance makes that chance, for every init seed."""
    items = make_box_items(tmp_path, seed=seed)
    scores = fresh(seed).score_options(items, tmp_path)
    assert all(len(set(row)) == 1 for row in scores)
    chance = float(np.mean([1 / it.n_options for it in items]))
    assert abs(_accuracy(fresh(seed), items, tmp_path) - chance) <= 1 / len(items) + 1e-9


def test_a_finding_never_trained_on_still_ties(tmp_path):
    train = make_box_items(tmp_path, finding="polyp")
    test = make_box_items(tmp_path, finding="ulcer", seed=1)
    bb = fresh()
    bb.fit(train, tmp_path, tmp_path / "m", cfg(max_steps=20))
    assert all(len(set(row)) == 1 for row in bb.score_options(test, tmp_path))
    assert any(len(set(row)) > 1 for row in bb.score_options(make_box_items(tmp_path, seed=2), tmp_path))


def test_box_choice_is_learned_by_sft_and_rl(tmp_path):
    train, test = make_box_items(tmp_path, n=32), make_box_items(tmp_path, n=16, seed=3)
    sft = fresh()
    sft.fit(train, tmp_path, tmp_path / "sft", cfg())
    assert _accuracy(sft, test, tmp_path) >= 0.9
    rl = fresh()
    res = rl.fit(train, tmp_path, tmp_path / "rl", cfg(method="grpo", batch_size=32, max_steps=60,
                                                        extra={"threads": 1, "num_generations": 4}))
    assert res.steps == 60 and _accuracy(rl, test, tmp_path) > 0.5


def test_options_are_scored_through_the_finding_not_the_box_numbers(tmp_path):
    items = make_box_items(tmp_path, n=4)
    tok = WordTokenizer(0, WordTokenizer.vocabulary_of([items[0].question, "polyp"]))
    enc = encode_items(items, tok)
    assert enc.is_box is not None and bool(enc.is_box.all())
    assert torch.equal(enc.opt_ids[0, 0], enc.opt_ids[0, 3]) and tok.encode("polyp")[0] in enc.opt_ids[0, 0].tolist()
    assert torch.allclose(enc.boxes[1], torch.tensor(items[1].option_boxes))
    from medmat.models.reference.encode import item_texts

    assert not any(w.isdigit() for t in item_texts(items) for w in t.split())


def test_classification_batches_take_the_old_path(tmp_path):
    from test_reference import make_items

    items = make_items(tmp_path, n=4)
    enc = encode_items(items, WordTokenizer(0))
    assert enc.boxes is None and enc.geometry(torch.arange(4)) == {}


def test_pooling_and_augmentation_geometry():
    cov = coverage(torch.tensor([[0.0, 0.0, 0.5, 0.25]]), 4, 4).reshape(4, 4)
    assert torch.allclose(cov, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0.]]))
    x = torch.zeros(1, 2, 4, 4)
    x[0, :, 3, 3] = 5.0
    feats = pool_boxes(x, torch.zeros(1, 1, 4, 4), torch.tensor([[[0.75, 0.75, 1.0, 1.0], [0.0, 0.0, 0.25, 0.25]]]))
    assert feats.shape == (1, 2, 14) and feats[0, 0, :2].tolist() == [5.0, 5.0] and feats[0, 1].abs().sum() == 0
    boxes = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])
    moved = move_boxes(boxes, torch.tensor([True]), None, torch.tensor([[0.0, 0.05]]))
    assert torch.allclose(moved, torch.tensor([[[0.15, 0.6, 0.35, 0.8]]]))
    # the draws are those of augment without boxes: same pixels
    pix = torch.randint(0, 255, (3, 1, 16, 16), dtype=torch.uint8)
    a = augment(pix, torch.Generator().manual_seed(4))
    b, _ = augment(pix, torch.Generator().manual_seed(4), boxes=torch.zeros(3, 4, 4))
    assert torch.equal(a, b)
