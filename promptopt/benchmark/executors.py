"""Where a grid's cells run: in this process one after another, in worker processes, or on Ray.

A cell is one idempotent, resumable unit: its run directory and response cache under ``--out``
(see :mod:`promptopt.benchmark.harness`). Whatever runs it, it writes the same ``cell.json``; a
cell interrupted anywhere (a killed worker, a lost node) is run again and resumes from its journal,
answering what it asked before from its own cache. The driver alone writes the grid's files, from
the cells' results, and scores every cell's best prompt on test itself (one process, one test
cache, in grid order), so every executor gives the same files.

``serial`` keeps the live request count of the running cell; ``processes[:N]`` runs N cells at a
time in fresh processes (N defaults to the CPU count); ``ray[:ADDRESS]`` submits every cell as a
Ray task with declared resources (one CPU each) and retries a task whose worker died: a local
instance without an address, an existing cluster with one (``ray:auto``, ``ray:ray://head:10001``).
On a cluster the workers must see ``--out`` at the same path (shared storage).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

from promptopt.errors import MissingExtraError, UsageError

if TYPE_CHECKING:
    from promptopt.benchmark.plan import BenchPlan, Cell
    from promptopt.tasks.task import Task

#: What a cell's search hands back (``promptopt.benchmark.harness.Searched``, which imports this
#: module: the harness is above the executors).
Searched = Any
#: Awaited with each cell whose search finished (in completion order): the driver finishes it.
Finished = Callable[["Cell", Searched], Awaitable[None]]
#: A worker's entry point: searches one cell in its process (``harness.run_cell_job``).
Worker = Callable[["CellJob", "Cell"], Searched]

KINDS = ("serial", "processes", "ray")
#: Ray retries of a cell whose worker died (each resumes the cell from its journal).
RAY_RETRIES = 3


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to run cells of one grid: plain data, pickled to the worker."""

    plan: BenchPlan
    out: str
    data_dir: str | None
    tasks: Mapping[str, Task]


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
    try:
        import ray  # noqa: F401  (only --executor ray pays for the import)
    except ImportError:
        error = MissingExtraError("ray", "--executor ray", "ray")
        error.exit_code = 2
        raise error from None


async def run_cells(
    spec: ExecutorSpec,
    job: CellJob,
    cells: Sequence[Cell],
    on_finished: Finished,
    serial: Callable[[Cell], Awaitable[Searched]],
    worker: Worker,
) -> None:
    """Search ``cells`` with the executor ``spec``: ``serial(cell)`` searches one in this process,
    ``worker(job, cell)`` in another (a module-level function: it is pickled by reference).
    ``on_finished`` is awaited for each as it finishes."""
    if spec.kind == "serial" or not cells:
        for cell in cells:
            await on_finished(cell, await serial(cell))
    elif spec.kind == "processes":
        count = int(spec.argument) if spec.argument else os.cpu_count() or 1
        await _in_processes(job, cells, on_finished, worker, count)
    else:
        await _on_ray(job, cells, on_finished, worker, spec.argument)


async def _in_processes(job: CellJob, cells: Sequence[Cell], on_finished: Finished, worker: Worker,
                        workers: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    loop = asyncio.get_running_loop()
    # spawn: a fresh interpreter per worker (no copied event loop, locks or open SQLite handles)
    with ProcessPoolExecutor(max_workers=min(workers, len(cells)), mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {asyncio.ensure_future(loop.run_in_executor(pool, worker, job, cell)): cell for cell in cells}
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


async def _on_ray(job: CellJob, cells: Sequence[Cell], on_finished: Finished, worker: Worker,
                  address: str | None) -> None:
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"address": address} if address else {"_temp_dir": _short_temp_dir()}
        # the workers import promptopt from where this process does (an editable checkout too)
        root = str(Path(__file__).resolve().parents[2])
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}}
        import logging

        ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR,
                 **options)
    try:
        task = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(worker)
        pending = {task.remote(job, cell): cell for cell in cells}
        while pending:
            done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            for ref in done:
                await on_finished(pending.pop(ref), await asyncio.to_thread(ray.get, ref))
    finally:
        if started_here:
            ray.shutdown()
