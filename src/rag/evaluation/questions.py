"""The eval question file: one JSON object per line (format in eval/README.md).

    >>> parse_question({"id": "q1", "question": "Why?", "kind": "unanswerable",
    ...                 "gold_titles": [], "answer_keywords": []}, "f.jsonl:1").kind
    'unanswerable'

Every problem is an InputError that names the file and line and says what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import InputError

KINDS = ("factoid", "numeric", "author", "multi", "unanswerable")
UNANSWERABLE = "unanswerable"
_README = "see eval/README.md"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    kind: str
    gold_titles: tuple[str, ...]
    answer_keywords: tuple[str, ...]
    hard: bool = False  # paraphrased so that keyword search alone is unlikely to work
    line: int = 0  # line in the question file, for messages

    @property
    def answerable(self) -> bool:
        return self.kind != UNANSWERABLE


def _string_list(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise InputError(f"{where}: '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(x.strip() for x in value)


def parse_question(obj: Any, where: str) -> Question:
    """One decoded line -> Question; `where` is "FILE:LINE" for the error message."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__} ({_README})")
    for key in ("id", "question", "kind", "gold_titles", "answer_keywords"):
        if key not in obj:
            raise InputError(f"{where}: missing field '{key}' ({_README})")
    for key in ("id", "question"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise InputError(f"{where}: '{key}' must be a non-empty string, got {obj[key]!r}")
    kind = obj["kind"]
    if kind not in KINDS:
        raise InputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    gold = _string_list(obj, "gold_titles", where)
    keywords = _string_list(obj, "answer_keywords", where)
    if kind == UNANSWERABLE and gold:
        raise InputError(f"{where}: an unanswerable question must have empty 'gold_titles'")
    if kind != UNANSWERABLE and not gold:
        raise InputError(f"{where}: a {kind} question needs at least one title in 'gold_titles'")
    return Question(
        id=obj["id"].strip(),
        question=obj["question"].strip(),
        kind=kind,
        gold_titles=gold,
        answer_keywords=keywords,
        hard=obj.get("hard") is True,
    )


def load_questions(path: Path) -> list[Question]:
    """Read and validate a question file; blank lines are skipped, ids must be unique."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such question file: pass an existing JSON-lines file"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text: save the question file as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the question file ({exc.strerror})") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        question = parse_question(obj, where)
        if question.id in first_line:
            raise InputError(
                f"{where}: duplicate id '{question.id}' (first used on line "
                f"{first_line[question.id]}): give every question its own id"
            )
        first_line[question.id] = number
        questions.append(replace(question, line=number))
    if not questions:
        raise InputError(
            f"{path}: no questions in the file: write one JSON object per line ({_README})"
        )
    return questions
