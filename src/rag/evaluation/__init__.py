"""The eval suite: canned questions through the engine, scored, reported.

questions.py  the question file format and its validation
metrics.py    pure per-question metrics and their aggregation per group
report.py     pure formatting: report.json data -> report.md, CLI summary
runner.py     run_eval: engine.ask per question, the retriever ablation, the files;
              run_evals: several files, each reported apart, compared side by side
fitting.py    logistic regression for the answerer's models (eval/fit_tuning.py)
beir.py       a retrieval benchmark in BEIR's format, read and checked
trec.py       pure ranking metrics with trec_eval's definitions (nDCG, recall, MRR at k)
benchmark.py  run_benchmark: the corpus in its own store, every retriever mode, the report
"""

from .questions import KINDS, Question, load_questions
from .runner import DEFAULT_SETS, MODES, EvalReport, run_eval, run_evals

__all__ = [
    "DEFAULT_SETS", "KINDS", "MODES", "EvalReport", "Question", "load_questions", "run_eval",
    "run_evals",
]  # fmt: skip
