"""Runner for promptolution, executed by bench/versus/.venvs/promptolution's interpreter.

Reads one JSON object on stdin and prints one JSON object (the last stdout line). Uses only
promptolution's public classes (APILLM, MarkerBasedPredictor, ClassificationTask, CAPO,
BaseCallback) as its README shows; nothing here changes how the library works.

Modes:
- ``capo``: optimize with promptolution's CAPO on the given dev blocks and few-shot pool, stop
  once the metering proxy has seen ``budget_tokens`` (checked after each step, where the library
  checks its own TokenCountCallback), then score the best prompt on the test examples.
- ``throughput``: send one prompt × N examples through APILLM (``predictor.predict``) and time it.
"""

from __future__ import annotations

import json
import random
import sys
import time
import urllib.request


def meter_snapshot(meter_url: str) -> dict:
    with urllib.request.urlopen(f"{meter_url}/meter", timeout=10) as reply:
        return json.loads(reply.read())


def meter_tokens(meter_url: str) -> int:
    return int(meter_snapshot(meter_url)["total_tokens"])


def make_llm(args: dict, sampling: dict):
    from promptolution.llms import APILLM

    call_kwargs = {"temperature": sampling["temperature"], "top_p": sampling["top_p"]}
    if args.get("seed") is not None:
        call_kwargs["seed"] = args["seed"]
    return APILLM(
        api_url=args["base_url"],
        model_id=args["model"],
        api_key="no-key",
        max_concurrent_calls=args.get("max_concurrent_calls", 32),
        max_tokens=sampling["max_tokens"],
        call_kwargs=call_kwargs,
    )


def run_capo(args: dict) -> dict:
    import numpy as np
    import pandas as pd
    from promptolution.optimizers import CAPO
    from promptolution.predictors import MarkerBasedPredictor
    from promptolution.tasks import ClassificationTask
    from promptolution.utils.callbacks import BaseCallback

    seed = args["seed"]
    random.seed(seed)
    np.random.seed(seed)

    class MeteredTokenBudget(BaseCallback):
        """The library's TokenCountCallback logic (stop at step end once over budget), counting
        the server's usage through the proxy instead of whitespace-separated words."""

        def __init__(self, meter_url: str, limit: int, max_wall_s: float) -> None:
            self.meter_url, self.limit, self.max_wall_s = meter_url, limit, max_wall_s
            self.started = time.monotonic()
            self.steps = 0

        def on_step_end(self, optimizer) -> bool:
            self.steps += 1
            over_time = time.monotonic() - self.started > self.max_wall_s
            return meter_tokens(self.meter_url) < self.limit and not over_time

    downstream = make_llm(args, args["sampling"])
    meta = make_llm(args, args["meta_sampling"])
    predictor = MarkerBasedPredictor(downstream, classes=args["classes"])
    dev = pd.DataFrame({"x": [r["x"] for r in args["dev"]], "y": [r["y"] for r in args["dev"]]})
    pool = pd.DataFrame({"x": [r["x"] for r in args["fewshot_pool"]], "y": [r["y"] for r in args["fewshot_pool"]]})
    task = ClassificationTask(
        dev, task_description=args["task_description"], x_column="x", y_column="y",
        n_subsamples=args["block_size"], eval_strategy="sequential_block", seed=seed,
    )
    budget = MeteredTokenBudget(args["meter_url"], args["budget_tokens"], args.get("max_wall_s", 1e9))
    optimizer = CAPO(
        predictor=predictor, task=task, meta_llm=meta, initial_prompts=list(args["initial_prompts"]),
        crossovers_per_iter=args["offspring"], upper_shots=args["max_shots"],
        max_n_blocks_eval=args["max_blocks"], alpha=args["alpha"], length_penalty=args["length_penalty"],
        df_few_shots=pool, callbacks=[budget],
    )
    start = time.perf_counter()
    prompts = optimizer.optimize(n_steps=args["max_steps"])
    optimize_wall = time.perf_counter() - start
    optimize_meter = meter_snapshot(args["meter_url"])
    best = prompts[0]

    test = pd.DataFrame({"x": [r["x"] for r in args["test"]], "y": [r["y"] for r in args["test"]]})
    test_task = ClassificationTask(test, task_description=args["task_description"], x_column="x", y_column="y",
                                   eval_strategy="full", seed=seed)
    start = time.perf_counter()
    result = test_task.evaluate([best], predictor)
    test_wall = time.perf_counter() - start
    outputs = []
    for x, seq in zip(test_task.xs, result.sequences[0]):
        text = str(seq)
        outputs.append(text[len(x) + 1:] if text.startswith(x) else text)  # their seq is x + "\n" + output
    by_x = dict(zip(test_task.xs, outputs))
    return {
        "best_instruction": best.instruction,
        "best_shots": len(best.few_shots),
        "best_prompt": best.construct_prompt(),
        "dev_score": float(optimizer.scores[0]) if optimizer.scores else None,
        "steps": budget.steps,
        "optimize_wall_s": optimize_wall,
        "optimize_meter": optimize_meter,
        "own_token_count": downstream.get_token_count()["total_tokens"] + meta.get_token_count()["total_tokens"],
        "own_token_count_by_role": {"downstream": downstream.get_token_count(), "meta": meta.get_token_count()},
        "test_wall_s": test_wall,
        "test_accuracy_own": float(result.agg_scores[0]),
        "test_outputs": [by_x.get(r["x"], "") for r in args["test"]],
    }


def run_throughput(args: dict) -> dict:
    from promptolution.predictors import MarkerBasedPredictor

    llm = make_llm(args, args["sampling"])
    predictor = MarkerBasedPredictor(llm, classes=args["classes"])
    warm = args["warm_inputs"]
    predictor.predict([args["prompt"]] * len(warm), warm)  # connections, SDK start-up
    urllib.request.urlopen(urllib.request.Request(args["stats_reset_url"], method="POST", data=b""), timeout=10)
    xs = args["inputs"]
    start = time.perf_counter()
    cpu0 = time.process_time()
    preds, _ = predictor.predict([args["prompt"]] * len(xs), xs)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    correct = sum(p == y for p, y in zip(preds, args["labels"]))
    return {"wall_s": wall, "cpu_s": cpu, "n": len(preds), "correct": correct}


def main() -> None:
    args = json.loads(sys.stdin.read())
    mode = args.get("mode")
    if mode == "capo":
        result = run_capo(args)
    elif mode == "throughput":
        result = run_throughput(args)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected 'capo' or 'throughput'")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
