"""Fit the extractive answerer's two models on ONE question file; write a proposed tuning.

    .venv/bin/python eval/fit_tuning.py [--questions eval/questions.jsonl] [--out eval/out/tuning.json]

- the refusal model, on every question of the file: the refusal features the
  answerer measured (answer.evidence), answerable questions positive;
- the sentence model, on every sentence of the gold papers of its factoid and
  numeric questions: positive when the sentence holds one of the answer keywords.

Both are L2-regularised logistic regressions (rag/evaluation/fitting.py). The file
written is a tuning file: check it on the held-out question files with
`RAG_TUNING=eval/out/tuning.json rag eval --questions eval/holdout.jsonl
--questions eval/blind.jsonl`, and only then copy its values into rag/tuning.py
with the numbers that justified them. Never fit on the held-out files.
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

REFUSAL_FEATURES = ("sim", "cover", "unknown", "names")
SENTENCE_FEATURES = ("cos", "role", "figure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=Path("eval/questions.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("eval/out/tuning.json"))
    args = parser.parse_args(argv)
    engine = Engine(Config.from_env())
    questions = load_questions(args.questions)
    by_title = {normalise_title(p.title): p for p in engine.papers()}
    answerer = engine.extractive_answerer()

    refusal_x, refusal_y, sentence_x, sentence_y = [], [], [], []
    for q in questions:
        try:
            answer = engine.ask(q.question, llm="extractive")
        except RagError:
            continue
        if all(name in answer.evidence for name in REFUSAL_FEATURES):
            refusal_x.append([answer.evidence[n] for n in REFUSAL_FEATURES])
            refusal_y.append(int(q.answerable))
        if q.kind not in ("factoid", "numeric") or not q.answer_keywords:
            continue
        plan = engine.retrieve(q.question).plan
        for title in q.gold_titles:
            paper = by_title.get(normalise_title(title))
            if paper is None:
                continue
            for scored in answerer.best_sentences(plan, [Hit(paper, 1.0, paper.text)])[0]:
                text = " ".join(scored.sentence.split()).casefold()
                positive = any(" ".join(k.split()).casefold() in text for k in q.answer_keywords)
                sentence_x.append([scored.features[n] for n in SENTENCE_FEATURES])
                sentence_y.append(int(positive))

    refusal = fit_logistic(refusal_x, refusal_y, REFUSAL_FEATURES)
    sentence = fit_logistic(sentence_x, sentence_y, SENTENCE_FEATURES)
    notes = (
        f"refusal model: {len(refusal_x)} questions of {args.questions} "
        f"({refusal_y.count(0)} unanswerable)",
        f"sentence model: {len(sentence_x)} gold-paper sentences of {args.questions} "
        f"({sum(sentence_y)} hold an answer keyword)",
    )
    tuning = replace(
        engine.tuning, tuned_on=str(args.questions), refusal=refusal, sentence=sentence, notes=notes
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(tuning.to_dict(), indent=2) + "\n", encoding="utf-8")
    for line in notes:
        print(line)
    print("refusal:", refusal.to_dict())
    print("sentence:", sentence.to_dict())
    print(f"wrote {args.out}: check it on the held-out files before adopting it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
