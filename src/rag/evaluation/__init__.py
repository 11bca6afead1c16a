"""The eval suite: canned questions through the engine, scored, reported.

questions.py  the question file format and its validation
metrics.py    pure per-question metrics and their aggregation per group
report.py     pure formatting: report.json data -> report.md, CLI summary
runner.py     run_eval: engine.ask per question, the retriever ablation, the files
"""

from .questions import KINDS, Question, load_questions
from .runner import MODES, EvalReport, run_eval

__all__ = ["KINDS", "MODES", "EvalReport", "Question", "load_questions", "run_eval"]
