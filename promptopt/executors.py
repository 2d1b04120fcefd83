"""Where independent units of work run: in this process one after another, in worker processes,
or on Ray. Units are a benchmark grid's cells and a large evaluation's shards.

A unit is idempotent and resumable: it writes what it produced under the output folder and, run
again after being interrupted anywhere (a killed worker, a lost node), continues from there,
answering what it asked before from its response cache. The driver alone writes the combined
files, from the units' results, so every executor gives the same files.

``serial`` runs the units in this process (keeping its live displays); ``processes[:N]`` runs N
at a time in fresh processes (N defaults to the CPU count); ``ray[:ADDRESS]`` submits every unit
as a Ray task with declared resources (one CPU each) and retries a task whose worker died: a
local instance without an address, an existing cluster with one (``ray:auto``,
``ray:ray://head:10001``). On a cluster the workers must see the output folder at the same path
(shared storage).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from promptopt.errors import UsageError, require_extra

#: A unit of work (a grid cell, an evaluation shard), what a worker needs besides it (plain data,
#: pickled to the worker), and what running it hands back.
Unit = TypeVar("Unit")
Job = TypeVar("Job")
Result = TypeVar("Result")

KINDS = ("serial", "processes", "ray")
#: Ray retries of a unit whose worker died (each resumes the unit from what it wrote).
RAY_RETRIES = 3


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed ``--executor``: its kind and its argument (worker count, or a Ray address)."""

    kind: str
    argument: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExecutorSpec:
        kind, _, argument = text.partition(":")
        if kind not in KINDS:
            raise UsageError(f"--executor: unknown executor '{kind}' (choose serial, processes[:N] or ray[:ADDRESS])")
        if kind == "serial" and argument:
            raise UsageError("--executor: serial takes no argument")
        if kind == "processes" and argument and (not argument.isdigit() or int(argument) < 1):
            raise UsageError(f"--executor: processes:N needs a positive worker count, got '{argument}'")
        if kind == "ray":
            require_ray()
        return cls(kind, argument or None)

    def __str__(self) -> str:
        return self.kind + (f":{self.argument}" if self.argument else "")


def require_ray() -> None:
    """Ray is an optional extra: without it, ``--executor ray`` is bad input (exit 2) naming it."""
    require_extra("ray", "--executor ray", "ray")  # only --executor ray pays for the import


async def run_units(
    spec: ExecutorSpec,
    job: Job,
    units: Sequence[Unit],
    on_finished: Callable[[Unit, Result], Awaitable[None]],
    serial: Callable[[Unit], Awaitable[Result]],
    worker: Callable[[Job, Unit], Result],
) -> None:
    """Run ``units`` with the executor ``spec``: ``serial(unit)`` runs one in this process,
    ``worker(job, unit)`` in another (a module-level function: it is pickled by reference).
    ``on_finished(unit, result)`` is awaited for each as it finishes (in completion order)."""
    if spec.kind == "serial" or not units:
        for unit in units:
            await on_finished(unit, await serial(unit))
    elif spec.kind == "processes":
        count = int(spec.argument) if spec.argument else os.cpu_count() or 1
        await _in_processes(job, units, on_finished, worker, count)
    else:
        await _on_ray(job, units, on_finished, worker, spec.argument)


async def _in_processes(job: Any, units: Sequence[Any], on_finished: Callable[[Any, Any], Awaitable[None]],
                        worker: Callable[[Any, Any], Any], workers: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    loop = asyncio.get_running_loop()
    # spawn: a fresh interpreter per worker (no copied event loop, locks or open SQLite handles)
    with ProcessPoolExecutor(max_workers=min(workers, len(units)), mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {asyncio.ensure_future(loop.run_in_executor(pool, worker, job, unit)): unit for unit in units}
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                await on_finished(pending.pop(future), future.result())


def _short_temp_dir() -> str | None:
    """Where a local Ray instance keeps its session: its sockets' paths must stay under 107 bytes,
    which a long ``$TMPDIR`` (a test's, a CI job's) breaks; then a short folder of this user's."""
    import tempfile

    if os.environ.get("RAY_TMPDIR") or len(tempfile.gettempdir()) <= 24:
        return None
    return f"/tmp/ray-{os.getuid()}"


async def _on_ray(job: Any, units: Sequence[Any], on_finished: Callable[[Any, Any], Awaitable[None]],
                  worker: Callable[[Any, Any], Any], address: str | None) -> None:
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"address": address} if address else {"_temp_dir": _short_temp_dir()}
        # the workers import promptopt from where this process does (an editable checkout too)
        root = str(Path(__file__).resolve().parents[1])
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}}
        import logging

        ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR,
                 **options)
    try:
        task = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(worker)
        shared = ray.put(job)  # serialized once, not once per unit (a shard job holds every example)
        pending = {task.remote(shared, unit): unit for unit in units}
        while pending:
            done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            for ref in done:
                await on_finished(pending.pop(ref), await asyncio.to_thread(ray.get, ref))
    finally:
        if started_here:
            ray.shutdown()
