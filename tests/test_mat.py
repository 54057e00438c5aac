import pytest

from medmat.mat import Triplet, UnknownTermError, Vocabulary, default_vocabulary, normalize


@pytest.mark.parametrize(
    "kind,raw,canonical",
    [
        ("modality", "US", "Ultrasound"),
        ("modality", "Ultrasound", "Ultrasound"),
        ("modality", "X-Ray", "X-ray"),
        ("modality", "xray", "X-ray"),
        ("modality", "Der", "Dermoscopy"),
        ("modality", "FP", "Fundus Photography"),
        ("modality", "Mic", "Microscopy"),
        ("modality", "End", "Endoscopy"),
        ("modality", "Co", "Colposcopy"),
        ("modality", "DP", "Digital Photography"),
        ("modality", "OCT", "OCT"),
        ("modality", "MR", "MRI"),
        ("area", "Teeth", "Mouth"),
        ("area", "lung", "Lung"),
        ("task", "COVID19, Classification", "COVID-19 Classification"),
    ],
)
def test_aliases_normalise(kind, raw, canonical):
    assert normalize(kind, raw) == canonical


def test_eleven_modalities():
    assert len(default_vocabulary().names("modality")) == 11


def test_unknown_value_names_closest():
    with pytest.raises(UnknownTermError) as e:
        normalize("modality", "Ultrasund")
    assert "Ultrasound" in str(e.value)
    assert e.value.suggestions[0] == "Ultrasound"
    with pytest.raises(UnknownTermError) as e:
        normalize("area", "Lungs!")
    assert "Lung" in e.value.suggestions


def test_triplet_roundtrip_and_immutability():
    t = Triplet.parse("ct/lung/COVID-19 Classification")
    assert str(t) == "CT/Lung/COVID-19 Classification"
    assert Triplet.parse(str(t)) == t
    with pytest.raises(Exception):
        t.modality = "MRI"  # frozen
    assert hash(t) == hash(Triplet.parse("CT/Lung/COVID-19 Classification"))


def test_triplet_task_may_hold_slash():
    t = Triplet.parse("Dermoscopy/Skin/Lesion Det/Seg")
    assert t.task == "Lesion Det/Seg"
    assert Triplet.parse(str(t)) == t


@pytest.mark.parametrize("bad", ["CT/Lung", "", "CT//COVID-19 Classification"])
def test_triplet_parse_rejects(bad):
    with pytest.raises(ValueError):
        Triplet.parse(bad)


def test_shared_elements_compare_task_families():
    a = Triplet.parse("CT/Lung/COVID-19 Classification")
    b = Triplet.parse("X-ray/Lung/COVID-19 and Pneumonia Classification")
    c = Triplet.parse("MRI/Brain/Head Diseases Classification")
    assert a.shared(b) == {"area", "task"}
    assert a.shared(c) == set()


def test_vocabulary_extension_and_conflicts():
    v = default_vocabulary().extended({"tasks": [{"name": "Lesion Presence", "family": "Lesion"}]})
    assert v.normalize("task", "lesion presence") == "Lesion Presence"
    with pytest.raises(ValueError):
        Vocabulary.from_mapping({"modalities": [{"name": "A", "aliases": ["x"]}, {"name": "B", "aliases": ["X"]}]})
