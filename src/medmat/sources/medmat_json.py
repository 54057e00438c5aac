"""Reader for the released Med-MAT json files (a list of MCQ records).

Released records are validated strictly (exactly the released keys, a letter that names an
option whose text is the answer, a safe image path), because medmat's importer rebuilds
VQAItems from them and a silently wrong answer letter would poison evaluation. Each bad
record becomes Skip('malformed-record') naming its index and the reason.

Layout fields: ``file`` (json, relative to the data root), ``image_root`` (folder the
record image paths are relative to, default the data root), optional ``split``.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medmat.records import MEDMAT_KEYS, LabeledRecord, Skip
from medmat.sources._common import (
    Entry, PathEscapesRoot, ReaderContext, SourceError, is_file, lget, normalize_split, safe_relpath,
)

_OPTION = re.compile(r"^([A-Z]): (.*)$")


class MedMatRecord(BaseModel):
    """One released Med-MAT record (keys as in shared/reference/medmat-sample-record.json)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    id: int
    caption: str
    image: str = Field(min_length=1)
    Question: str
    Answer: str = Field(min_length=1)
    question_choice: str = Field(alias="Question-choice")
    answer_choice: str = Field(alias="Answer-choice")
    data_no: str | int = Field(alias="data-no")

    @property
    def options(self) -> list[tuple[str, str]]:
        return [(m.group(1), m.group(2)) for line in self.question_choice.split("\n") if (m := _OPTION.match(line))]

    @model_validator(mode="after")
    def _consistent(self) -> "MedMatRecord":
        opts = self.options
        if not opts:
            raise ValueError("Question-choice has no 'A: ...' option lines")
        letters = [k for k, _ in opts]
        if letters != [chr(ord("A") + i) for i in range(len(letters))]:
            raise ValueError(f"option letters {letters} are not A, B, C ... in order")
        texts = dict(opts)
        if self.answer_choice not in texts:
            raise ValueError(f"Answer-choice {self.answer_choice!r} is not an option letter {letters}")
        if texts[self.answer_choice] != self.Answer:
            raise ValueError(f"option {self.answer_choice} is {texts[self.answer_choice]!r}, Answer is {self.Answer!r}")
        if self.caption != self.Answer:
            raise ValueError(f"caption {self.caption!r} differs from Answer {self.Answer!r}")
        return self


def load_json_list(path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"Med-MAT json {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: not UTF-8 text (byte {e.start}); is this really a Med-MAT json file?") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise SourceError(f"{path}: JSON nested too deeply to be a list of Med-MAT records") from None
    if not isinstance(data, list):
        raise SourceError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def _why(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def read_medmat_json(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    rel_file = safe_relpath(ctx.data_root, lget(layout, "file", ""))
    path = ctx.data_root / rel_file
    image_root = lget(layout, "image_root", ".") or "."
    try:
        split = normalize_split(lget(layout, "split", None))
    except KeyError:
        raise SourceError(f"dataset {ctx.dataset_id}: split {lget(layout, 'split')!r} is not train/val/test") from None
    out: list[tuple[str, int, LabeledRecord | Skip]] = []
    for index, raw in enumerate(load_json_list(path)):
        where = f"{rel_file}[{index}]"
        if not isinstance(raw, dict):
            out.append(("", index, ctx.skip(where, "malformed-record", f"record {index}: not an object")))
            continue
        try:
            rec = MedMatRecord.model_validate(raw)
        except ValidationError as e:
            missing = [k for k in MEDMAT_KEYS if k not in raw]
            extra = sorted(set(raw) - set(MEDMAT_KEYS))
            keys = (f" (missing keys {missing})" if missing else "") + (f" (extra keys {extra})" if extra else "")
            out.append(("", index, ctx.skip(where, "malformed-record", f"record {index}: {_why(e)}{keys}")))
            continue
        try:
            rel = safe_relpath(ctx.data_root, posixpath.join(image_root, rec.image.replace("\\", "/")))
            if rec.image.startswith(("/", "\\")):
                raise PathEscapesRoot(f"{rec.image!r} is absolute")
        except PathEscapesRoot as e:
            out.append(("", index, ctx.skip(where, "path-escapes-root", f"record {index}: {e}")))
            continue
        if not is_file(ctx.data_root / rel):
            out.append((rel, index, ctx.skip(rel, "missing-file", f"record {index} (id {rec.id}): image not found")))
            continue
        meta = {
            "json_index": index,
            "medmat": {
                "id": rec.id, "caption": rec.caption, "question": rec.Question, "question_choice": rec.question_choice,
                "options": [t for _, t in rec.options], "answer_choice": rec.answer_choice, "data_no": str(rec.data_no),
            },
        }
        entry = Entry(relpath=rel, raw_labels=(rec.Answer,), split=split, meta=meta)
        out.append((rel, index, ctx.make_records(entry, parts=(f"medmat-id={rec.id}",))))
    out.sort(key=lambda t: (t[0], t[1]))
    for _, _, item in out:
        yield item
