"""evaluate() end to end with the real backbones: the CPU reference model and a tiny
random Qwen2-VL. The issue's check: the two scorers agree on an overfit model."""

from __future__ import annotations

import pytest

from medmat.evaluate import evaluate, load_results, write_results
from medmat.models import BACKBONES, TrainConfig
from helpers.eval import make_item, make_items, write_store

torch = pytest.importorskip("torch")

REF = dict(image_size=16, channels=(8, 16), dim=16, n_hash=64, seed=0)


def _agreement(result) -> float:
    by = {(p.item_id, p.rotation): p.pred for p in result.predictions if p.scorer == "option"}
    gen = [(p.item_id, p.rotation, p.pred) for p in result.predictions if p.scorer == "generate"]
    return sum(by[(i, r)] == g for i, r, g in gen) / len(gen)


def test_reference_overfit_scorers_agree(tmp_path):
    import medmat.models.reference  # noqa: F401  (registers "reference")

    items = make_items(24)
    write_store(tmp_path, items)
    fresh = BACKBONES.get("reference").load(None, threads=1, **REF)
    before = evaluate(fresh, items, tmp_path, circular=True, n_boot=200)
    model = BACKBONES.get("reference").load(None, threads=1, **REF)
    model.fit(items, tmp_path, tmp_path / "ck", TrainConfig(seed=0, max_steps=100, batch_size=8, lr=3e-3,
                                                            save_every=1000, extra={"threads": 1}))
    after = evaluate(model, items, tmp_path, circular=True, batch_size=5, n_boot=200)
    opt, gen = after.metrics["overall"]["option"], after.metrics["overall"]["generate"]
    assert opt["accuracy"] == 1.0 and opt["circular_accuracy"] == 1.0  # overfit: memorised its training items
    assert _agreement(after) == 1.0 and gen["accuracy"] == opt["accuracy"] and gen["invalid_rate"] == 0.0
    assert before.metrics["overall"]["option"]["circular_accuracy"] < 0.5
    out = write_results(after, tmp_path / "eval")
    assert load_results(out).predictions == after.predictions


@pytest.mark.slow
def test_tiny_qwen2_vl_overfit_scorers_agree(tmp_path):
    pytest.importorskip("transformers")
    import medmat.models.hf  # noqa: F401  (registers the HF families)
    from medmat.models.tiny import build_tiny

    # Each answer goes with its own question wording, so a tiny random model can memorise
    # the four training items within a few seconds (its frozen random vision tower cannot).
    qs = ["What is the diagnosis?", "Which of the following is shown in this image?"]
    items = [make_item(i, n_options=2, answer_index=i % 2, question=qs[i % 2]) for i in range(4)]
    write_store(tmp_path, items)
    model = BACKBONES.get("qwen2-vl").load(build_tiny("qwen2-vl", tmp_path / "tiny", seed=0))
    raw = evaluate(model, items, tmp_path, max_new_tokens=4, n_boot=100)
    assert raw.metrics["overall"]["option"]["invalid_rate"] == 0.0  # option scoring is never invalid
    assert all(p.raw is not None and p.scores is None for p in raw.predictions if p.scorer == "generate")
    model.fit(items, tmp_path, tmp_path / "ck", TrainConfig(
        seed=0, max_steps=30, batch_size=4, lr=3e-3, method="full", save_every=10_000,
        extra={"train_lm_head": True}))
    fitted = evaluate(model, items, tmp_path, max_new_tokens=1, n_boot=100)
    opt, gen = fitted.metrics["overall"]["option"], fitted.metrics["overall"]["generate"]
    assert opt["accuracy"] == 1.0 and gen["accuracy"] == 1.0, (opt, gen)
    assert gen["invalid_rate"] == 0.0 and _agreement(fitted) == 1.0
