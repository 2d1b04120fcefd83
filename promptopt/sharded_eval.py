"""Scoring one prompt on a dataset too large for one process: contiguous shards of the examples,
each an idempotent unit run by an executor (this process, worker processes or Ray tasks).

Each shard scores its examples with :func:`promptopt.evaluation.evaluate` (the same requests,
limits, retries and response cache as a single-process evaluation), writes its records to
``OUT/shards/NNNNN.jsonl`` in one atomic rename (its checkpoint) and hands back what it spent.
A shard whose file exists is never run again, so an interrupted evaluation resumes shard by shard.
The driver alone writes ``OUT/results.jsonl`` (every example once, in dataset order) and
``OUT/summary.json`` (and ``OUT/results.parquet`` when asked); the score and its interval are computed over all records exactly as a
single-process evaluation computes them, so the two agree.

Shards go round-robin over one or several OpenAI-compatible endpoints serving the same model.
On a cluster, workers must see ``OUT`` and the cache file at the same paths (shared storage).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from promptopt.errors import PromptoptError, UsageError, require_extra
from promptopt.evaluation import EvalResult, ExampleResult, evaluate
from promptopt.executors import ExecutorSpec, run_units
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import Sampling
from promptopt.prompt import Prompt
from promptopt.runs import write_atomically, write_text_atomically
from promptopt.stats import mean_interval
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task

__all__ = ["Shard", "ShardJob", "ShardedEval", "default_shards", "evaluate_sharded", "plan_shards"]

PLAN_FILE = "eval.json"
RESULTS_FILE = "results.jsonl"
PARQUET_FILE = "results.parquet"
#: Examples per shard when the count is not given and the shards run outside this process.
SHARD_SIZE = 250
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Shard:
    """Examples ``[start, end)`` of the dataset, scored against ``model``."""

    index: int
    start: int
    end: int
    model: str

    @property
    def file(self) -> str:
        return f"shards/{self.index:05d}.jsonl"


@dataclass(frozen=True)
class ShardJob:
    """What every shard needs (plain data, pickled to a worker once per shard)."""

    prompt: Prompt
    examples: tuple[Example, ...]
    task: Task
    renderer: str
    sampling: Sampling
    split: str | None
    #: The response cache file every shard shares, or None for no cache.
    cache_path: str | None
    out: str


@dataclass(frozen=True)
class ShardDone:
    """A shard's records and what scoring it spent (nothing when its checkpoint was reused)."""

    records: tuple[ExampleResult, ...]
    usage: RoleUsage
    reused: bool


@dataclass(frozen=True)
class ShardedEval:
    """The combined result: the same :class:`EvalResult` a single process gives, plus spend."""

    result: EvalResult
    usage: RoleUsage
    shards: int
    reused: int
    out: Path


def plan_shards(n_examples: int, shards: int, models: Sequence[str]) -> list[Shard]:
    """``shards`` contiguous, near-equal ranges (never empty), round-robin over ``models``."""
    if not models:
        raise UsageError("--model: sharded evaluation needs at least one endpoint")
    if shards < 1:
        raise UsageError(f"--shards: needs a positive count, got {shards}")
    count = min(shards, n_examples)
    bounds = [round(i * n_examples / count) for i in range(count + 1)]
    return [Shard(i, bounds[i], bounds[i + 1], models[i % len(models)]) for i in range(count)]


def default_shards(n_examples: int, executor: ExecutorSpec) -> int:
    """One shard in this process (nothing to spread); else one per :data:`SHARD_SIZE` examples."""
    return 1 if executor.kind == "serial" else max(1, n_examples // SHARD_SIZE)


def _jsonl(records: Sequence[ExampleResult]) -> str:
    """Records as JSON lines (a shard's checkpoint, the combined results)."""
    return "".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in records)


def _plan_record(job: ShardJob, shards: Sequence[Shard]) -> dict[str, object]:
    return {"prompt_hash": job.prompt.hash, "task": job.task.name, "task_fingerprint": job.task.fingerprint(),
            "split": job.split, "examples": [e.uid for e in job.examples], "renderer": job.renderer,
            "sampling": job.sampling.to_dict(), "shards": [asdict(s) for s in shards]}


def _check_plan(out: Path, plan: dict[str, object]) -> None:
    """A folder holds one evaluation: resuming with other settings is refused by field."""
    path = out / PLAN_FILE
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(plan, indent=2, sort_keys=True) + "\n")
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptoptError(f"{path}: cannot read the stored evaluation plan ({exc}); use another --out") from None
    differing = sorted(k for k in plan if stored.get(k) != json.loads(json.dumps(plan[k])))
    if differing:
        raise UsageError(f"--out: {out} holds another evaluation (differs in {', '.join(differing)}); "
                         "use another --out to score these settings")


def _read_shard(path: Path, shard: Shard, job: ShardJob) -> tuple[ExampleResult, ...] | None:
    """A shard's checkpoint, or None when it is missing; a checkpoint of other examples is an error."""
    if not path.exists():
        return None
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(ExampleResult(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise PromptoptError(f"{path}:{number}: not a shard record ({exc}); delete the file to score "
                                 "the shard again") from None
    want = [e.uid for e in job.examples[shard.start:shard.end]]
    if [r.uid for r in records] != want:
        raise PromptoptError(f"{path}: holds other examples than shard {shard.index}; delete it to score the shard again")
    return tuple(records)


async def score_shard(job: ShardJob, shard: Shard) -> ShardDone:
    """Score one shard (or read its checkpoint) in this process."""
    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.connection import connect

    path = Path(job.out) / shard.file
    stored = _read_shard(path, shard, job)
    if stored is not None:
        return ShardDone(stored, RoleUsage(), True)
    cache = ResponseCache(job.cache_path) if job.cache_path is not None else None
    client = connect(shard.model, cache=cache)
    try:
        [result] = await evaluate([job.prompt], job.examples[shard.start:shard.end], job.task, client,
                                  renderer=job.renderer, sampling=job.sampling, split=job.split)
    finally:
        await client.aclose()
        if cache is not None:
            cache.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, _jsonl(result.records))
    return ShardDone(result.records, client.ledger.role("downstream"), False)


def _write_parquet(path: Path, rows: list[dict[str, object]]) -> None:
    """The results as one Parquet table (a column per record field), written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    write_atomically(path, lambda handle: pq.write_table(table, handle))


def run_shard_job(job: ShardJob, shard: Shard) -> ShardDone:
    """A worker's entry point: one shard in this process."""
    return asyncio.run(score_shard(job, shard))


async def evaluate_sharded(
    job: ShardJob,
    models: Sequence[str],
    *,
    shards: int,
    executor: ExecutorSpec | None = None,
    on_shard: Callable[[int, int], None] | None = None,
    parquet: bool = False,
) -> ShardedEval:
    """Score ``job.prompt`` on ``job.examples`` in ``shards`` units run by ``executor`` (default
    serial). ``on_shard(examples_done, examples_total)`` as each shard finishes. With
    ``parquet``, the results are also written as ``results.parquet`` (extra 'parquet')."""
    if not job.examples:
        raise UsageError("sharded evaluation needs at least one example")
    if parquet:
        require_extra("parquet", "--parquet", "pyarrow")
    spec = executor or ExecutorSpec("serial")
    if job.task.judge is not None and spec.kind != "serial":
        raise UsageError(f"--executor {spec}: task '{job.task.name}' is scored by an LLM judge, whose client "
                         "lives in this process; score it with --executor serial")
    out = Path(job.out)
    planned = plan_shards(len(job.examples), shards, models)
    _check_plan(out, _plan_record(job, planned))
    done: dict[int, ShardDone] = {}

    async def finished(shard: Shard, result: ShardDone) -> None:
        done[shard.index] = result
        if on_shard is not None:
            on_shard(sum(len(d.records) for d in done.values()), len(job.examples))

    await run_units(spec, job, planned, finished,
                    lambda shard: score_shard(job, shard), run_shard_job)
    records = tuple(r for shard in planned for r in done[shard.index].records)
    result = EvalResult(prompt_hash=job.prompt.hash, metric=job.task.metric.name, records=records,
                        estimate=mean_interval([r.score for r in records]), split=job.split)
    usage = RoleUsage.sum(d.usage for d in done.values())
    reused = sum(d.reused for d in done.values())
    write_text_atomically(out / RESULTS_FILE, _jsonl(records))
    if parquet:
        _write_parquet(out / PARQUET_FILE, [asdict(r) for r in records])
    summary = {**result.summary(), "shards": len(planned), "reused_shards": reused, "usage": usage.to_dict()}
    write_text_atomically(out / SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return ShardedEval(result, usage, len(planned), reused, out)
