"""Question builders for localisation records: box-choice, grounding, presence, count."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from medmat.boxes import BOX_SYNTAXES, box_text, iou, parse_box, quantise, to_unit
from medmat.records import LETTERS, LabeledRecord, VQAItem
from medmat.vqa import DEFAULT_BUILDERS, QUESTION_BUILDERS, SubsetSpec, build_questions, builder_for
from medmat.vqa.forms import builder_templates
from medmat.vqa.localise import MAX_IOU

W, H = 400, 300


def _records(n: int = 60, seed: int = 0) -> list[LabeledRecord]:
    """Images with 0-3 boxes of 'polyp' / 'ulcer'; every 5th has no finding."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        boxes = []
        if i % 5:
            for k in range(1 + i % 3):
                label = ("polyp", "ulcer")[(i + k) % 2]
                w, h = rng.randint(20, 90), rng.randint(20, 70)
                x, y = rng.randint(0, W - w), rng.randint(0, H - h)
                boxes.append((label, float(x), float(y), float(x + w), float(y + h)))
        labels = tuple(sorted({b[0] for b in boxes})) or ("normal",)
        out.append(LabeledRecord(f"r{i:03d}", "ds", f"images/{i}.png", labels, meta={
            "width": W, "height": H, "image_hash": f"h{i}"}, boxes=tuple(boxes)))
    return out


def _spec(builder: str, templates: list[str] | None = None) -> SubsetSpec:
    return SubsetSpec("39", "End/Intestine/PolyP Det/Seg", ["polyp", "ulcer", "normal"],
                      templates or [f"Variant {i}: which box contains the {{finding}}?" for i in range(6)],
                      datasets=["ds"], builder=builder)


def _splits(records: list[LabeledRecord]) -> dict[str, str]:
    return {r.id: "test" if int(r.id[1:]) % 4 == 0 else "train" for r in records}


def _build(builder: str, records=None, seed: int = 0, **kw):
    records = records if records is not None else _records()
    return build_questions(records, _spec(builder, **kw), _splits(records), seed)


def test_box_choice_items_follow_the_contract():
    recs = _records()
    items, skips = _build("box-choice", recs)
    by_id = {r.id: r for r in recs}
    assert items and {s.reason for s in skips} == {"no-box"}
    assert len(skips) == sum(1 for r in recs if not r.boxes)
    for it in items:
        rec = by_id[it.source_record]
        truths = [quantise(to_unit(*b[1:], W, H)) for b in rec.boxes]
        mine = sorted((quantise(to_unit(*b[1:], W, H)) for b in rec.boxes if b[0] == it.caption),
                      key=lambda q: (-(q[2] - q[0]) * (q[3] - q[1]), q))
        assert it.kind == "box-choice" and it.image_size == [W, H] and 2 <= it.n_options <= 4
        assert it.options[it.answer_index] == it.answer == box_text(mine[0])  # the largest box of the finding
        assert it.answer_choice == LETTERS[it.answer_index] and it.answer_box == it.option_boxes[it.answer_index]
        assert it.question == it.question_choice.splitlines()[0] and it.caption in it.question
        assert [parse_box(o).box for o in it.options] == [tuple(b) for b in it.option_boxes]
        w, h = mine[0][2] - mine[0][0], mine[0][3] - mine[0][1]
        for k, box in enumerate(it.option_boxes):
            q = quantise(box)
            assert 0 <= q[0] < q[2] <= 1000 and 0 <= q[1] < q[3] <= 1000  # inside the image
            if k == it.answer_index:
                continue
            assert (q[2] - q[0], q[3] - q[1]) == (w, h)  # the true box's size
            assert all(iou(q, t) < MAX_IOU for t in truths)  # overlaps no true box
            assert all(iou(q, quantise(o)) < MAX_IOU for j, o in enumerate(it.option_boxes) if j != k)


@pytest.mark.parametrize("builder", QUESTION_BUILDERS.names())
def test_every_builder_is_deterministic_whatever_the_record_order(builder):
    recs = _records()
    first, skips1 = _build(builder, recs, seed=3)
    shuffled = recs[:]
    random.Random(1).shuffle(shuffled)
    again, skips2 = _build(builder, shuffled, seed=3)
    assert [it.to_dict() for it in first] == [it.to_dict() for it in again]
    assert sorted(tuple(s.to_dict().values()) for s in skips1) == sorted(tuple(s.to_dict().values()) for s in skips2)
    other, _ = _build(builder, recs, seed=4)
    assert [it.to_dict() for it in other] != [it.to_dict() for it in first]
    assert [it.id for it in first] == list(range(1, len(first) + 1))
    assert [(it.split, it.item_id) for it in first] == sorted((it.split, it.item_id) for it in first)
    assert all(it.kind == QUESTION_BUILDERS.get(builder).kind for it in first)


@pytest.mark.parametrize("builder", [b for b in QUESTION_BUILDERS.names() if b != "grounding"])
def test_every_lettered_builder_balances_letters(builder):
    items, _ = _build(builder, _records(200))
    groups: dict[tuple[str, int], Counter] = {}
    for it in items:
        groups.setdefault((it.split, it.n_options), Counter())[it.answer_choice] += 1
    for (split, n), counts in groups.items():
        got = [counts.get(LETTERS[i], 0) for i in range(n)]
        assert max(got) - min(got) <= 1, (builder, split, n, got)


def test_grounding_items_ask_for_the_box():
    recs = _records()
    items, skips = _build("grounding", recs)
    plain = BOX_SYNTAXES.get("plain").instruction
    assert items
    for it in items:
        assert it.kind == "grounding" and it.options == [] and it.option_boxes == []
        assert it.answer == it.answer_choice == box_text(quantise(it.answer_box))
        assert it.question_choice == f"{it.question}\n{plain}"
        assert parse_box(it.answer).box == tuple(it.answer_box)
    several = [it for it in items if sum(b[0] == it.caption for b in
                                         next(r for r in recs if r.id == it.source_record).boxes) > 1]
    assert all(f"largest {it.caption}" in it.question for it in several)
    assert {s.reason for s in skips} <= {"no-box", "ambiguous-box"}


def test_grounding_skips_a_finding_without_a_clear_largest_box():
    twin = LabeledRecord("t", "ds", "t.png", ("polyp",), meta={"width": W, "height": H},
                         boxes=(("polyp", 0, 0, 40, 40), ("polyp", 200, 200, 239, 240)))
    items, skips = build_questions([twin], _spec("grounding"), {"t": "test"}, 0)
    assert items == [] and [s.reason for s in skips] == ["ambiguous-box"]


def test_box_questions_skip_what_they_cannot_ask():
    base = dict(dataset="ds", image="x.png", labels=("polyp",))
    recs = [
        LabeledRecord("nosplit", boxes=(("polyp", 1, 1, 50, 50),), meta={"width": W, "height": H}, **base),
        LabeledRecord("nosize", boxes=(("polyp", 1, 1, 50, 50),), **base),
        LabeledRecord("alien", boxes=(("tumour", 1, 1, 50, 50),), meta={"width": W, "height": H}, **base),
        LabeledRecord("whole", boxes=(("polyp", 0, 0, W, H),), meta={"width": W, "height": H}, **base),
        LabeledRecord("speck", boxes=(("polyp", 10, 10, 10.1, 50),), meta={"width": W, "height": H}, **base),
    ]
    splits = {r.id: "train" for r in recs[1:]}
    _, skips = build_questions(recs, _spec("box-choice"), splits, 0)
    assert {s.reason for s in skips} == {"no-split", "no-image-size", "unknown-label", "no-distractor",
                                         "degenerate-box"}
    assert all(s.detail for s in skips)


def test_presence_and_count_are_classification_items_from_boxes():
    recs = _records(120)
    by_id = {r.id: r for r in recs}
    items, skips = _build("presence", recs)
    assert not skips and {it.answer for it in items} == {"yes", "no"}
    per_record: dict[str, Counter] = {}
    for it in items:
        per_record.setdefault(it.source_record, Counter())[it.answer] += 1
    for rid, got in per_record.items():  # every finding shown, and as many absent ones as there are (>= 1)
        shown = {b[0] for b in by_id[rid].boxes}
        assert got["yes"] == len(shown) and got["no"] == min(2 - len(shown), max(1, len(shown)))
    for it in items:
        finding = next(f for f in ("polyp", "ulcer") if f in it.question)
        has = any(b[0] == finding for b in by_id[it.source_record].boxes)
        assert it.answer == ("yes" if has else "no") and sorted(it.options) == ["no", "yes"]
        assert set(it.to_dict()) == set(VQAItem.from_dict(it.to_dict()).to_dict())
        assert "kind" not in it.to_dict() and "answer_box" not in it.to_dict()  # serialised as classification
    counts, _ = _build("count", recs)
    for it in counts:
        finding = next(f for f in ("polyp", "ulcer") if f in it.question)
        n = sum(b[0] == finding for b in by_id[it.source_record].boxes)
        assert it.answer == str(n) and it.n_options == 4 and len(set(it.options)) == 4
        assert all(o.isdigit() for o in it.options)
    templates = builder_templates()
    assert {it.question for it in items} <= {t.replace("{finding}", f) for t in templates["presence"]
                                            for f in ("polyp", "ulcer")}


def test_builder_templates_and_defaults():
    spec = SubsetSpec("x", "A/B/C", ["polyp"], ["Classify this image."], builder="box-choice")
    rec = LabeledRecord("a", "ds", "a.png", ("polyp",), meta={"width": W, "height": H},
                        boxes=(("polyp", 10, 10, 60, 60),))
    items, _ = build_questions([rec], spec, {"a": "train"}, 0)
    assert items[0].question in {t.replace("{finding}", "polyp") for t in builder_templates()["locate"]}
    mixed = SubsetSpec("x", "A/B/C", ["polyp"], ["Where is the {finding}?", "Classify this image."],
                       builder="box-choice")
    with pytest.raises(ValueError, match="finding"):
        build_questions([rec], mixed, {"a": "train"}, 0)
    assert all(len(v) >= 6 for v in builder_templates().values())
    assert DEFAULT_BUILDERS == {"classification": "choice", "detection": "box-choice", "segmentation": "box-choice"}
    assert builder_for("segmentation") == "box-choice" and builder_for("classification") == "choice"
    assert builder_for("detection", "grounding") == "grounding"
    with pytest.raises(KeyError, match="did you mean"):
        builder_for("detection", "groundng")


def test_the_catalog_localisation_subsets_have_templates_and_a_builder():
    from medmat.catalog import load_catalog

    cat = load_catalog()
    loc = {sid: s for sid, s in cat.subsets.items() if s.kind != "classification"}
    assert len(loc) == 16
    for sid, s in loc.items():
        assert s.builder in QUESTION_BUILDERS, sid
        assert len(s.templates or []) >= 6 and all("{finding}" in t for t in s.templates), sid
    assert all(s.builder is None for s in cat.subsets.values() if s.kind == "classification")


def test_a_catalog_builder_must_exist(tmp_path):
    from medmat.catalog import validate_catalog

    user = tmp_path / "cat.yaml"
    user.write_text("subsets:\n  - {id: '39', override: true, modality: End, area: Intestine, task: PolyP Det/Seg,\n"
                    "     kind: segmentation, status: todo, builder: grounding}\n"
                    "  - {id: x1, modality: End, area: Intestine, task: PolyP Det/Seg, kind: segmentation,\n"
                    "     status: todo, builder: boxchoice}\n", encoding="utf-8")
    issues = validate_catalog([user])
    assert len(issues) == 1 and "unknown question builder 'boxchoice'" in str(issues[0])


def test_items_read_back_with_keys_they_do_not_know():
    """from_dict takes an item written with extra keys (a newer medmat) and rejects a missing field."""
    items, _ = _build("box-choice")
    for item in (items[0], VQAItem.from_dict({k: v for k, v in items[0].to_dict().items()
                                              if k not in ("kind", "option_boxes", "answer_box", "image_size")})):
        assert VQAItem.from_dict({**item.to_dict(), "added_later": 1}) == item
        broken = item.to_dict()
        del broken["answer"]
        with pytest.raises(TypeError):
            VQAItem.from_dict(broken)
