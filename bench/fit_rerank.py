"""Fit the second stage's weights on a BEIR-format benchmark; check them on the other half.

    .venv/bin/python bench/fit_rerank.py DATASET [--split train] [--store DIR] [--out DIR]

The hand-set second stage (tuning.RERANK_MODEL) weighs five features of each of the
top papers of the first stage: the best sentence's cosine, the mean of the two best,
keyword coverage, number coverage and the first-stage rank prior. This script
retrieves every query of the split once (hybrid + rerank, no filters read, the
benchmark's own store as `rag bench-retrieval` builds it), recomputes those features
for the reranked papers, and fits an L2-regularised logistic model (relevant in the
qrels or not) on the first half of the queries in file order, then on the second.
Each fit is scored on the half it did not see: nDCG@10 of the papers reordered by the
fitted weights against the hand-set ones. The fitted weights are scaled to sum to 1
(a positive scale and no bias keep the order and keep scores cosine-like, which the
list cut and the lead-title share assume).

Writes DIR/fit.json (both fits, both halves' nDCG@10) and DIR/tuning.json (a tuning
file with the weights fitted on all queries; `RAG_TUNING` loads it). Adopting it also
changes the refusal model's `top` and `gap` evidence: refit that with
eval/fit_tuning.py and check the held-out question files before copying anything into
rag/tuning.py. The reorder ignores that the feedback round depends on the first
rerank (second order).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag import Config
from rag.evaluation.beir import load_beir
from rag.evaluation.benchmark import STORE_DIR, benchmark_engine, ingest_corpus
from rag.evaluation.fitting import fit_logistic
from rag.evaluation.trec import ndcg_at
from rag.keyword import coverage
from rag.retrieval import number_share, question_numbers, second_stage_features
from rag.tuning import LinearModel

FEATURES = ("best", "top2", "keyword", "number", "prior")
DEPTH = 30  # the papers the second stage reranks (RetrievalTuning.rerank_depth)


def query_features(engine, query: str) -> list[tuple[str, dict[str, float]]]:
    """(paper id, second-stage features) for the papers the pipeline reranks."""
    retriever = engine.snapshot.retriever
    hits = engine.retrieve(query, DEPTH, read_filters=False).hits
    # The prior is the first-stage rank: the fused order of the reranked papers.
    fused = sorted(hits, key=lambda h: -h.scores["fused"])
    rank = {h.paper.paper_id: i for i, h in enumerate(fused)}
    vector = engine.embedder.embed_one(query)
    terms = retriever.keyword.terms(query)
    numbers = question_numbers(query)
    sentences = retriever.sentences([h.paper.paper_id for h in hits])
    rows = []
    for h in hits:
        pid = h.paper.paper_id
        texts, vectors = sentences.get(pid, ([], np.zeros((0, len(vector)))))
        keyword = coverage(terms, retriever.terms.paper_terms(pid), retriever.idf)
        number = number_share(numbers, h.paper.abstract)
        rows.append((pid, second_stage_features(vectors @ vector, keyword, number, rank[pid])))
    return rows


def ndcg(model: LinearModel, queries, qrels) -> float:
    scores = []
    for qid, rows in queries:
        ranking = [pid for pid, f in sorted(rows, key=lambda r: -model.logit(r[1]))]
        scores.append(ndcg_at(ranking, qrels[qid], 10))
    return float(np.mean(scores))


def fit(queries, qrels) -> LinearModel:
    x, y = [], []
    for qid, rows in queries:
        for pid, f in rows:
            x.append([f[n] for n in FEATURES])
            y.append(int(qrels[qid].get(pid, 0) > 0))
    model = fit_logistic(x, y, FEATURES)
    total = sum(w for _, w in model.weights)
    return LinearModel(0.0, tuple((n, round(w / total, 3)) for n, w in model.weights))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--store", type=Path)
    parser.add_argument("--out", type=Path, default=Path("eval/out/fit-rerank"))
    args = parser.parse_args(argv)
    data = load_beir(args.dataset, args.split)
    engine = benchmark_engine(Config.from_env(), args.store or args.dataset / STORE_DIR)
    ingested = ingest_corpus(engine, data)
    print(f"store: {ingested.report.embedded_texts} texts embedded", file=sys.stderr)
    hand = engine.tuning.retrieval.rerank
    queries = []
    for i, (qid, text) in enumerate(data.queries.items()):
        queries.append((qid, query_features(engine, text)))
        if i % 100 == 0:
            print(f"{i}/{len(data.queries)} queries", file=sys.stderr)
    half = len(queries) // 2
    halves = (queries[:half], queries[half:])
    result = {"dataset": str(args.dataset), "split": args.split, "queries": len(queries),
              "hand": hand.to_dict(), "folds": []}  # fmt: skip
    for name, (train, check) in (("first", halves), ("second", halves[::-1])):
        fitted = fit(train, data.qrels)
        result["folds"].append({
            "fitted_on": f"{name} half ({len(train)} queries)",
            "weights": fitted.to_dict()["weights"],
            "ndcg10_hand": round(ndcg(hand, check, data.qrels), 4),
            "ndcg10_fitted": round(ndcg(fitted, check, data.qrels), 4),
        })  # fmt: skip
        print(json.dumps(result["folds"][-1]))
    final = fit(queries, data.qrels)
    result["fitted_on_all"] = final.to_dict()["weights"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tuning = replace(engine.tuning, retrieval=replace(engine.tuning.retrieval, rerank=final))
    (args.out / "tuning.json").write_text(
        json.dumps(tuning.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out / 'fit.json'} and {args.out / 'tuning.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
