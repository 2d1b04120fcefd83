"""Runner for DSPy, executed by bench/versus/.venvs/dspy's interpreter.

Reads one JSON object on stdin, prints one JSON object (the last stdout line). Mode
``throughput``: one ``dspy.Predict`` program whose instructions are the prompt, scored on N
examples with ``dspy.Evaluate(num_threads=...)`` against an OpenAI-compatible server, DSPy's
response cache off so every example is sent. A warm-up evaluation on other examples runs first
(threads, connections, the engine's start-up), as for the other clients.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request


def run_throughput(args: dict) -> dict:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network look-up at import
    import dspy

    lm = dspy.LM(
        f"openai/{args['model']}", api_base=args["base_url"], api_key="no-key", cache=False,
        temperature=args["sampling"]["temperature"], max_tokens=args["sampling"]["max_tokens"],
        num_retries=args.get("num_retries", 3),
    )
    dspy.configure(lm=lm)
    signature = dspy.Signature("text -> answer", instructions=args["prompt"])
    program = dspy.Predict(signature)

    def metric(example, prediction, trace=None) -> float:
        answer = str(getattr(prediction, "answer", "") or "")
        inside = answer.split("<final_answer>")[-1].split("</final_answer>")[0].strip().lower()
        return float(inside == example.label)

    def devset(inputs: list[str], labels: list[str]) -> list:
        return [dspy.Example(text=x, label=y).with_inputs("text") for x, y in zip(inputs, labels)]

    threads = args["threads"]
    warm = dspy.Evaluate(devset=devset(args["warm_inputs"], ["positive"] * len(args["warm_inputs"])),
                         metric=metric, num_threads=threads, display_progress=False)
    warm(program)
    urllib.request.urlopen(urllib.request.Request(args["stats_reset_url"], method="POST", data=b""), timeout=10)
    evaluate = dspy.Evaluate(devset=devset(args["inputs"], args["labels"]), metric=metric, num_threads=threads,
                             display_progress=False)
    start, cpu0 = time.perf_counter(), time.process_time()
    result = evaluate(program)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    score = float(getattr(result, "score", result))
    return {"wall_s": wall, "cpu_s": cpu, "n": len(args["inputs"]), "score_percent": score,
            "dspy_version": dspy.__version__}


def main() -> None:
    args = json.loads(sys.stdin.read())
    if args.get("mode") != "throughput":
        raise SystemExit(f"unknown mode {args.get('mode')!r}: expected 'throughput'")
    print(json.dumps(run_throughput(args)))


if __name__ == "__main__":
    main()
