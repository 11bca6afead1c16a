"""Fit the extractive answerer's two models on the tuning question files; write a proposed tuning.

    .venv/bin/python eval/fit_tuning.py [--questions FILE]... [--folds K] [--out eval/out/tuning.json]

The tuning files are `eval/questions.jsonl` and `eval/train.jsonl` unless
--questions names others. Fitted on all their questions together:

- the refusal model, on every question: the refusal features the answerer
  measured (answer.evidence), answerable questions positive;
- the sentence model, on every sentence of the gold papers of the factoid and
  numeric questions: positive when the sentence holds one of the answer keywords.

Both are L2-regularised logistic regressions (rag/evaluation/fitting.py). Before
the final fit, the refusal model is cross-validated on the same questions (K
folds, every question held out once), so a choice of features can be judged
without looking at any held-out file. The file written is a tuning file: check it
on the held-out question files with `RAG_TUNING=eval/out/tuning.json rag eval`,
and only then copy its values into rag/tuning.py with the numbers that justified
them. Never fit on the held-out files.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from rag import Config, Engine, RagError
from rag.evaluation.fitting import fit_logistic
from rag.evaluation.questions import load_questions
from rag.types import Hit, normalise_title

TUNING_FILES = (Path("eval/questions.jsonl"), Path("eval/train.jsonl"))
REFUSAL_FEATURES = ("sim", "unknown", "names", "top", "gap")
SENTENCE_FEATURES = ("cos", "role", "figure", "opening")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, action="append")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("eval/out/tuning.json"))
    args = parser.parse_args(argv)
    files = args.questions or list(TUNING_FILES)
    engine = Engine(Config.from_env())
    questions = [q for f in files for q in load_questions(f)]
    by_title = {normalise_title(p.title): p for p in engine.papers()}
    answerer = engine.extractive_answerer()

    refusal_x, refusal_y, sentence_x, sentence_y = [], [], [], []
    for q in questions:
        try:
            answer = engine.ask(q.question, llm="extractive")
            retrieval = engine.retrieve(q.question)
        except RagError:
            continue
        plan = retrieval.plan
        # Only questions the refusal model decides: not listings, nor questions
        # about people or papers the user named (their papers are answered from).
        consulted = not (retrieval.filters.authors or plan.about_people)
        if consulted and all(name in answer.evidence for name in REFUSAL_FEATURES):
            refusal_x.append([answer.evidence[n] for n in REFUSAL_FEATURES])
            refusal_y.append(int(q.answerable))
        if q.kind not in ("factoid", "numeric") or not q.answer_keywords:
            continue
        for title in q.gold_titles:
            paper = by_title.get(normalise_title(title))
            if paper is None:
                continue
            for scored in answerer.best_sentences(plan, [Hit(paper, 1.0, paper.text)])[0]:
                text = " ".join(scored.sentence.split()).casefold()
                positive = any(" ".join(k.split()).casefold() in text for k in q.answer_keywords)
                sentence_x.append([scored.features[n] for n in SENTENCE_FEATURES])
                sentence_y.append(int(positive))

    tuned_on = " + ".join(str(f) for f in files)
    cv = cross_validate(refusal_x, refusal_y, args.folds, engine.tuning.refuse_below)
    refusal = fit_logistic(refusal_x, refusal_y, REFUSAL_FEATURES)
    sentence = fit_logistic(sentence_x, sentence_y, SENTENCE_FEATURES)
    notes = (
        f"refusal model: {len(refusal_x)} questions of {tuned_on} "
        f"({refusal_y.count(0)} unanswerable); "
        + (
            f"{args.folds}-fold cross-validation on them: refusal accuracy {cv[0]:.2f}, "
            f"false refusals {cv[1]:.2f}"
            if cv
            else "too few to cross-validate"
        ),
        f"sentence model: {len(sentence_x)} gold-paper sentences of {tuned_on} "
        f"({sum(sentence_y)} hold an answer keyword)",
    )
    tuning = replace(
        engine.tuning, tuned_on=tuned_on, refusal=refusal, sentence=sentence, notes=notes
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(tuning.to_dict(), indent=2) + "\n", encoding="utf-8")
    for line in notes:
        print(line)
    print("refusal:", refusal.to_dict())
    print("sentence:", sentence.to_dict())
    print(f"wrote {args.out}: check it on the held-out files before adopting it")
    return 0


def cross_validate(
    rows: list[list[float]], labels: list[int], folds: int, threshold: float
) -> tuple[float, float] | None:
    """K-fold cross-validated (refusal accuracy, false refusal rate) of the refusal
    model: each question is decided by a model fitted without its fold. Folds are
    every K-th question, so each file and kind is spread over all of them."""
    folds = min(folds, labels.count(0), labels.count(1))
    if folds < 2:
        return None  # too few of one kind: every fold must train on both
    refused = [False] * len(rows)
    for k in range(folds):
        train = [i for i in range(len(rows)) if i % folds != k]
        model = fit_logistic([rows[i] for i in train], [labels[i] for i in train], REFUSAL_FEATURES)
        for i in range(k, len(rows), folds):
            refused[i] = model.probability(dict(zip(REFUSAL_FEATURES, rows[i]))) < threshold
    unanswerable = [r for r, y in zip(refused, labels) if y == 0]
    answerable = [r for r, y in zip(refused, labels) if y == 1]
    return sum(unanswerable) / max(len(unanswerable), 1), sum(answerable) / max(len(answerable), 1)


if __name__ == "__main__":
    sys.exit(main())
