"""Run a team on suite episodes, one JSON file per episode in a run directory, with resume.

Layout of the run directory (``promptopt.runs.RunDir``)::

    config.json             suite, episodes, seeds, model and the team's PlannerConfig
    episodes/<key>.json     one record per finished episode (see ``episode.py``)
    summary.json            the aggregate and the printed table

``--resume`` skips episodes whose file exists (the settings must match config.json); everything
else runs again, and the response cache answers the model calls that were already paid for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from promptopt.planners.environments import EpisodeSpec

from promptopt.errors import PromptoptError
from promptopt.llm.client import LLMClient
from promptopt.records import RecordError
from promptopt.runs import RunDir, write_text_atomically

from .config import PlannerConfig
from .episode import episode_key, read_record, run_planner_episode
from .summary import summarize, table

__all__ = ["EPISODES_DIR", "load_records", "run_suite"]

EPISODES_DIR = "episodes"


def run_settings(suite: str, specs: Sequence[EpisodeSpec], seeds: Sequence[int], config: PlannerConfig,
                 model: str | None) -> dict[str, Any]:
    return {"suite": suite, "episodes": [s.id for s in specs], "seeds": list(seeds), "model": model,
            "planner": config.to_dict()}


def _episode_path(run: RunDir, key: str) -> Path:
    return run.path / EPISODES_DIR / f"{key}.json"


def load_records(run: RunDir, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Finished episodes among ``keys``; a damaged file is an error (exit 2) naming it and its field."""
    out = {}
    for key in keys:
        path = _episode_path(run, key)
        if not path.exists():
            continue
        try:
            out[key] = read_record(str(path), key=key)
        except RecordError as exc:
            raise RecordError(f"{exc}; delete it to run the episode again") from None
    return out


def prepare(run: RunDir, settings: dict[str, Any], resume: bool) -> None:
    """Write config.json for a new run, or check it against the stored one on --resume."""
    if run.config_path.exists():
        if not resume:
            raise PromptoptError(f"{run.path} already holds a run; pass --resume to continue it or choose another --out")
        run.check_resume(settings, resumable=())
    else:
        if resume:
            raise PromptoptError(f"{run.path} holds no run to resume (no {run.config_path.name}); drop --resume")
        run.write_config(settings)


async def run_suite(specs: Sequence[EpisodeSpec], seeds: Sequence[int], config: PlannerConfig,
                    client: LLMClient | None, run: RunDir | None = None, *, concurrency: int = 4,
                    on_progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Every (episode, seed) pair, ``concurrency`` episodes at a time; records in suite order.
    With ``run``, finished episodes are loaded instead of run and new ones written as they end."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    jobs = [(spec, seed) for seed in seeds for spec in specs]
    keys = [episode_key(spec, seed) for spec, seed in jobs]
    done = load_records(run, keys) if run is not None else {}
    total, finished = len(jobs), len(done)
    if on_progress:
        on_progress(finished, total)
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: EpisodeSpec, seed: int) -> dict[str, Any]:
        nonlocal finished
        async with gate:
            record = await run_planner_episode(spec, config, client, seed)
        if run is not None:
            write_text_atomically(_episode_path(run, record["key"]),
                          json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        if client is not None:  # fail fast: the other episodes would only repeat the failures
            refuse_if_every_request_failed(client, [record], run)
        finished += 1
        if on_progress:
            on_progress(finished, total)
        return record

    todo = [(i, spec, seed) for i, (spec, seed) in enumerate(jobs) if keys[i] not in done]
    fresh = await asyncio.gather(*(one(spec, seed) for _, spec, seed in todo))
    by_key = {**done, **{r["key"]: r for r in fresh}}
    return [by_key[k] for k in keys]


def refuse_if_every_request_failed(client: LLMClient, records: Sequence[dict[str, Any]], run: RunDir | None) -> None:
    """Raise :class:`RequestsFailed` naming the endpoint and the first cause when every request
    so far failed: the episodes then ran on default actions only, and their score means nothing."""
    usage = client.ledger.total()
    if not usage.asked or usage.errors != usage.asked:
        return
    from promptopt.llm.failures import RequestsFailed

    cause = next((f"{e['error']}: {e.get('error_detail')}" for r in records for e in r.get("transcript", [])
                  if e.get("error")), "unknown")
    where = f"the episodes in {run.path}" if run is not None else "the episodes"
    raise RequestsFailed(
        f"plan run: all {usage.asked} request(s) to {client.endpoint} failed (first: {cause}); {where} ran on "
        f"default actions only: delete it, or choose another --out, once the endpoint works"
    )


def finish(run: RunDir | None, records: Sequence[dict[str, Any]], settings: dict[str, Any],
           ledger: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The summary (written to summary.json with a run) and its table."""
    summary = {**summarize(records), "settings": settings}
    if ledger is not None:
        summary["ledger_this_session"] = ledger
    text = table(summary)
    if run is not None:
        run.write_summary({**summary, "table": text})
    return summary, text
