"""Run a benchmark's cells one after another, each in its own run directory, resumably.

Layout of the output directory::

    bench.json                       the plan (informational; each cell checks its own settings)
    test-cache.sqlite3               responses of test scoring, shared by all cells
    cells/TASK/OPTIMIZER/seedS/
        run/                         the optimizer's run directory (config, journal, artifacts)
        search-cache.sqlite3         this cell's responses during the search (kept only with its run:
                                     a cell that starts over starts with an empty one)
        timing.json                  wall time of each session that worked on the cell
        cell.json                    the finished cell: its settings, results and code fingerprint

Each cell searches with its own response cache. A shared one would answer one optimizer's
requests from another's (the initial prompts are the same), and answers from the cache are not
charged, so the second optimizer would get more work out of the same token budget. Test scoring
is not budgeted and shares one cache: a prompt that several cells end up with is scored once.

A finished cell (cell.json) is skipped on ``resume``; an interrupted one continues through
``aoptimize(resume=True)``, which replays its journal from the cell's cache. A reused cell that
other code measured (another :func:`~promptopt._version.source_fingerprint`) is reused all the
same, since settings decide reuse, but is listed in ``BenchResult.stale``; the CLI says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from promptopt import jsonio, records
from promptopt._version import source_fingerprint
from promptopt.benchmark.configs import config_for, downstream_of
from promptopt.benchmark.plan import BenchPlan, Cell
from promptopt.dirlock import DirectoryLock
from promptopt.errors import PromptoptError, UsageError
from promptopt.folder_archive import pack_folder, unpack_folder
from promptopt.runs import write_text_atomically
from promptopt.tasks.task import Task

CELL_FILE = "cell.json"
SEARCH_CACHE = "search-cache.sqlite3"
TIMING_FILE = "timing.json"
#: Seconds between two saves of a running session's wall time (what an interruption loses).
HEARTBEAT_S = 5.0
PLAN_FILE = "bench.json"


@dataclass(frozen=True)
class CellResult(records.Record):
    """One finished cell: the best prompt's scores, length and what finding it cost. Read back
    from cells of any age: a key it does not know is ignored, a later field takes its default."""

    optimizer: str
    task: str
    seed: int
    test_score: float
    test_low: float
    test_high: float
    test_n: int
    dev_score: float
    dev_n: int
    prompt_tokens: int
    few_shots: int
    instruction: str
    tokens: int
    tokens_by_role: Mapping[str, int]
    calls: int
    wall_s: float
    stop_reason: str
    generations: int
    #: Tokens sent to score the test split in the session that scored it (cache hits are free).
    test_tokens: int = 0
    run_dir: str = ""
    #: Distinct new prompts the search scored (beyond the initial ones) and the meta-LLM
    #: proposals asked for and found valid: a baseline whose meta answers are all unusable
    #: shows 0 here and equals ``initial``.
    new_prompts: int = 0
    proposals_asked: int = 0
    proposals_valid: int = 0

    @property
    def cell(self) -> Cell:
        return Cell(self.optimizer, self.task, self.seed)


#: The layout of ``cell.json``; files written before it was recorded carry none: absent is 1.
CELL_SCHEMA = 1


@dataclass(frozen=True)
class _CellFile(records.Record):
    """``cell.json``: the settings that decide reuse, the results and the measuring code."""

    settings: dict[str, Any]
    result: CellResult
    code: str | None = None
    schema_version: int = CELL_SCHEMA

    @classmethod
    def read(cls, path: Path) -> "_CellFile":
        data = records.read_json(path, what="cell file")
        records.check_schema(data, where=str(path), known=(CELL_SCHEMA,), default=CELL_SCHEMA)
        return cls.from_dict(data, where=str(path))


@dataclass(frozen=True)
class BenchResult:
    plan: BenchPlan
    out: Path
    cells: tuple[CellResult, ...]
    #: Cells taken from earlier sessions without any work.
    reused: tuple[str, ...] = field(default=())
    #: Reused cells that other code measured (another source fingerprint, or none recorded).
    stale: tuple[str, ...] = field(default=())


CellCallback = Callable[[Cell, int, int], None]
DoneCallback = Callable[[CellResult, bool], None]


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / "cells" / cell.task / cell.optimizer / f"seed{cell.seed}"


def timing_sessions(path: Path) -> list[float]:
    """The wall time of each session a cell's ``timing.json`` holds (none when it is missing);
    ValueError, KeyError or TypeError when it is not such a file."""
    if not path.exists():
        return []
    return [float(s) for s in jsonio.loads(path.read_text(encoding="utf-8"))["sessions"]]


class _Stopwatch:
    """Wall time of a cell over sessions: this session's share is saved every few seconds, so an
    interrupted session still counts (to within one heartbeat)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.earlier = timing_sessions(path)
        except (ValueError, KeyError, TypeError):
            raise PromptoptError(f"{path}: not a timing file written by promptopt bench; delete it") from None
        self.started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def total(self) -> float:
        return sum(self.earlier) + self.elapsed

    def save(self) -> None:
        sessions = [round(s, 3) for s in (*self.earlier, self.elapsed)]
        write_text_atomically(self.path, json.dumps({"sessions": sessions}) + "\n")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.save()

    def __enter__(self) -> "_Stopwatch":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.save()
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.save()


def without_answer_tags(task: Task) -> Task:
    """The task with a parser that reads the whole reply instead of the answer tags' content."""
    parser = task.parser
    if getattr(parser, "tag", None) is None or not dataclasses.is_dataclass(parser):
        return task
    return dataclasses.replace(task, parser=dataclasses.replace(parser, tag=None))


@dataclass(frozen=True)
class Searched:
    """What a cell's search hands back for its ``cell.json``: plain data (pickled from workers)."""

    best: Any  # promptopt.prompt.Prompt
    dev_score: float
    dev_n: int
    prompt_tokens: int
    spend: Mapping[str, Any]  # role -> promptopt.llm.ledger.RoleUsage
    stop_reason: str
    generations: int
    proposals: Mapping[str, Any]
    wall_s: float
    run_dir: str
    #: With ``--ship-results``: the cell's folder as the worker left it (tar.gz), for the driver.
    shipped: bytes | None = None


class Harness:
    """Runs a :class:`BenchPlan` into an output directory."""

    def __init__(
        self,
        plan: BenchPlan,
        out: str | Path,
        *,
        tasks: Mapping[str, Task] | None = None,
        data_dir: str | Path | None = None,
        resume: bool = False,
    ) -> None:
        self.plan = plan
        self.out = Path(out)
        self._lock = DirectoryLock(self.out, "benchmark directory")
        self.data_dir = data_dir
        self.resume = resume
        self._tasks: dict[str, Task] = dict(tasks or {})
        #: The tasks given as objects (workers load named ones themselves).
        self._given_tasks: dict[str, Task] = dict(tasks or {})
        self._test_client: Any = None
        self._test_cache: Any = None

    # -- inputs --------------------------------------------------------------------------------
    def task(self, name: str) -> Task:
        if name not in self._tasks:
            from promptopt.tasks.registry import load_task

            self._tasks[name] = load_task(name, data_dir=self.data_dir)
        task = self._tasks[name]
        if not self.plan.settings.answer_tags:
            task = without_answer_tags(task)
        return task

    def cell_settings(self, cell: Cell) -> dict[str, Any]:
        """Everything that decides a cell's result; a stored cell is reused only if it matches."""
        task = self.task(cell.task)
        plan = self.plan
        return {
            "optimizer": cell.optimizer,
            "task": cell.task,
            "task_fingerprint": task.fingerprint(),
            "seed": cell.seed,
            "model": plan.model,
            "meta_model": plan.meta_model or plan.model,
            "budget_tokens": plan.budget_tokens,
            "settings": plan.settings.to_dict(),
            "config": config_for(cell.optimizer, plan.settings).to_dict(),
            "initial_prompts": list(plan.initial_prompts_for(cell.task, task.description, task.labels)),
        }

    def check_output(self) -> None:
        """Refuse to mix a new benchmark into an output directory that already holds cells."""
        cells = self.out / "cells"
        if not self.resume and cells.is_dir() and any(cells.rglob("timing.json")):
            raise PromptoptError(
                f"{self.out} already holds benchmark cells. Pass --resume to continue (finished cells are "
                "reused), or choose another --out."
            )

    # -- running -------------------------------------------------------------------------------
    async def run(
        self, *, on_start: CellCallback | None = None, on_done: DoneCallback | None = None,
        on_requests: Callable[[Cell, Any], None] | None = None, executor: Any = None, ship: bool = False,
    ) -> BenchResult:
        """Every cell (finished ones reused), run by ``executor`` (an
        :class:`~promptopt.executors.ExecutorSpec`; default serial, in this process). With
        ``ship``, workers do not share ``out``: each gets its cell's folder and sends it back.
        ``on_done(result, reused)`` as each cell finishes; ``on_requests(cell, usage)`` after
        every request a cell running in this process charges (its spend so far, all roles)."""
        from promptopt.executors import ExecutorSpec, run_units

        spec = executor or ExecutorSpec("serial")
        if ship and spec.kind == "serial":
            raise UsageError("--ship-results: --executor serial runs every cell in this process; there is "
                             "nothing to ship (use processes or ray)")
        self.check_output()
        cells = list(self.plan.cells())
        for name in self.plan.tasks:  # load every task first: a bad name fails before any work
            self.task(name)
        self.out.mkdir(parents=True, exist_ok=True)
        finished: dict[Cell, CellResult] = {}
        reused: list[str] = []
        stale: list[str] = []
        self._lock.acquire()  # one benchmark per --out (each cell's run directory is locked too)
        try:
            write_text_atomically(self.out / PLAN_FILE, json.dumps(self.plan_dict(), indent=2, sort_keys=True) + "\n")
            pending = []
            for cell in cells:
                stored = _for_cell(cell, self.stored)
                if stored is None:
                    pending.append(cell)
                    continue
                finished[cell] = stored[0]
                reused.append(cell.key)
                if stored[1] != source_fingerprint():
                    stale.append(cell.key)
                if on_done is not None:
                    on_done(stored[0], True)

            # Cells are finished (scored on test, cell.json written) in grid order whatever order
            # their searches end in: which cell pays for a test answer the shared test cache then
            # holds is the same as in a serial run, and so is every file.
            position = {cell: index for index, cell in enumerate(pending)}
            ready: dict[int, tuple[Cell, Searched]] = {}
            upcoming = 0

            async def searched(cell: Cell, search: Searched) -> None:
                nonlocal upcoming
                ready[position[cell]] = (cell, search)
                while upcoming in ready:
                    next_cell, next_search = ready.pop(upcoming)
                    upcoming += 1
                    result = await _for_cell_async(next_cell, lambda: self.finish_cell(next_cell, next_search))
                    finished[next_cell] = result
                    if on_done is not None:
                        on_done(result, False)

            async def here(unit: CellUnit) -> Searched:
                if on_start is not None:
                    on_start(unit.cell, cells.index(unit.cell), len(cells))
                return await _for_cell_async(unit.cell, lambda: self.search_cell(unit.cell, on_requests))

            async def received(unit: CellUnit, search: Searched) -> None:
                if search.shipped is not None:  # the worker's folder becomes the cell's folder here
                    folder = cell_dir(self.out, unit.cell)
                    unpack_folder(search.shipped, folder)
                    search = dataclasses.replace(search, shipped=None, run_dir=str(folder / "run"))
                await searched(unit.cell, search)

            job = CellJob(self.plan, str(self.out), None if self.data_dir is None else str(self.data_dir),
                          self._given_tasks, ship)
            units = [CellUnit(cell, _folder_of(cell_dir(self.out, cell)) if ship else None) for cell in pending]
            await _for_cell_async(None, lambda: run_units(spec, job, units, received, here, run_cell_job))
        finally:
            await self.close()
            self._lock.release()
        results = tuple(finished[cell] for cell in cells)
        return BenchResult(self.plan, self.out, results, tuple(reused), tuple(stale))

    async def close(self) -> None:
        """Close the test-scoring client and cache (opened by the first cell scored here)."""
        if self._test_client is not None:
            await self._test_client.aclose()
            self._test_cache.close()
            self._test_client = self._test_cache = None

    def plan_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "optimizers": list(plan.optimizers),
            "tasks": list(plan.tasks),
            "seeds": list(plan.seeds),
            "budget_tokens": plan.budget_tokens,
            "model": plan.model,
            "meta_model": plan.meta_model or plan.model,
            "settings": plan.settings.to_dict(),
        }

    def stored(self, cell: Cell) -> tuple[CellResult, str | None] | None:
        """The finished cell's results and the source fingerprint that measured them (None when
        it recorded none), if it was finished with the same settings."""
        path = cell_dir(self.out, cell) / CELL_FILE
        if not path.exists():
            return None
        try:
            cell_file = _CellFile.read(path)
        except records.RecordError as exc:
            raise records.RecordError(f"{exc}; delete it to rerun the cell") from None
        stored_settings, result, code = cell_file.settings, cell_file.result, cell_file.code
        settings = json.loads(json.dumps(self.cell_settings(cell)))
        if stored_settings != settings:
            differing = sorted(k for k in set(settings) | set(stored_settings) if settings.get(k) != stored_settings.get(k))
            raise PromptoptError(
                f"{path}: cell {cell.key} was run with different settings ({', '.join(differing)}); "
                "use another --out for a benchmark with these settings"
            )
        return result, code

    def optimize_settings(self, cell: Cell, run_dir: Path | None = None, resume: bool = False) -> Any:
        """The cell's :class:`~promptopt.settings.OptimizeSettings` (forced: the grid's preflight,
        :meth:`preflight`, ran before any cell)."""
        from promptopt.budget import Budget
        from promptopt.settings import ModelRoles, OptimizeSettings

        budget = Budget.from_options(tokens=self.plan.budget_tokens, no_improvement=self.plan.settings.no_improvement)
        return OptimizeSettings(
            models=ModelRoles(self.plan.model, self.plan.meta_model), optimizer=cell.optimizer,
            config=config_for(cell.optimizer, self.plan.settings), budget=budget, seed=cell.seed,
            initial_prompts=self.cell_settings(cell)["initial_prompts"], run_dir=run_dir, resume=resume, force=True,
        )

    async def preflight(self) -> list[tuple[Cell, Any]]:
        """The preflight estimate (:mod:`promptopt.preflight`) of each task × optimizer at the first
        seed, before any request; the estimate does not depend on the seed beyond its data split."""
        from promptopt.optimization import aestimate

        first = self.plan.seeds[0]
        estimates = []
        for cell in self.plan.cells():
            if cell.seed == first:
                estimate, _ = await aestimate(self.task(cell.task), settings=self.optimize_settings(cell))
                estimates.append((cell, estimate))
        return estimates

    async def run_cell(self, cell: Cell, on_requests: Callable[[Cell, Any], None] | None = None) -> CellResult:
        """Search and finish one cell in this process."""
        return await self.finish_cell(cell, await self.search_cell(cell, on_requests))

    async def search_cell(self, cell: Cell, on_requests: Callable[[Cell, Any], None] | None = None) -> Searched:
        """The cell's search (resumed from its journal when it has one): what a worker runs."""
        from promptopt.llm.cache import ResponseCache
        from promptopt.optimization import aoptimize

        directory = cell_dir(self.out, cell)
        task = self.task(cell.task)
        run_dir = directory / "run"
        resume = (run_dir / "config.json").exists()
        cache_path = directory / SEARCH_CACHE
        if not resume:
            # A cell that starts over pays for every answer: ones a cache kept from a run whose
            # journal is gone would be free, and would buy the cell more than its token budget.
            for stale in (cache_path, *(cache_path.with_name(cache_path.name + s) for s in ("-wal", "-shm"))):
                stale.unlink(missing_ok=True)
        with _Stopwatch(directory / TIMING_FILE) as watch:
            cache = ResponseCache(cache_path)
            try:
                result = await aoptimize(
                    task, settings=self.optimize_settings(cell, run_dir, resume), cache=cache,
                    on_requests=None if on_requests is None else (lambda usage: on_requests(cell, usage)),
                )
            finally:
                cache.close()
            wall_s = watch.total
        return Searched(result.best, result.best_score.value, result.best_score.n, result.best_tokens,
                        dict(result.spend), result.stop_reason, result.generations, dict(result.proposals),
                        round(wall_s, 3), str(run_dir))

    async def finish_cell(self, cell: Cell, searched: Searched) -> CellResult:
        """Score the cell's best prompt on test and write its ``cell.json``. The driver does this
        for every executor, in one process with one test cache, so test scoring is the same
        whatever ran the searches."""
        task = self.task(cell.task)
        config = config_for(cell.optimizer, self.plan.settings)
        test = await self.score_test(task, searched.best, config)
        spend, proposals = searched.spend, searched.proposals
        cell_result = CellResult(
            optimizer=cell.optimizer,
            task=cell.task,
            seed=cell.seed,
            test_score=test.estimate.value,
            test_low=test.estimate.low,
            test_high=test.estimate.high,
            test_n=test.n,
            dev_score=searched.dev_score,
            dev_n=searched.dev_n,
            prompt_tokens=searched.prompt_tokens,
            few_shots=len(searched.best.examples),
            instruction=searched.best.instruction,
            tokens=sum(u.total_tokens for u in spend.values()),
            tokens_by_role={role: u.total_tokens for role, u in sorted(spend.items())},
            calls=sum(u.requests for u in spend.values()),
            wall_s=searched.wall_s,
            stop_reason=searched.stop_reason,
            generations=searched.generations,
            test_tokens=test.prompt_tokens + test.completion_tokens,
            run_dir=searched.run_dir,
            new_prompts=int(proposals.get("new_prompts_evaluated", 0)),
            proposals_asked=int(proposals.get("asked", 0)),
            proposals_valid=int(proposals.get("valid", 0)),
        )
        write_text_atomically(
            cell_dir(self.out, cell) / CELL_FILE,
            json.dumps(_CellFile(self.cell_settings(cell), cell_result, source_fingerprint()).to_dict(),
                       indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        )
        return cell_result

    async def score_test(self, task: Task, prompt: Any, config: Any) -> Any:
        """The best prompt on the test split (its first ``test_limit`` examples), with the
        sampling and renderer the optimizer searched with."""
        from promptopt.evaluation import evaluate

        examples = task.test[: self.plan.settings.test_limit] if self.plan.settings.test_limit else task.test
        if not examples:
            raise PromptoptError(f"task '{task.name}' has no test examples to score the best prompt on")
        if self._test_client is None:
            from promptopt.llm.cache import ResponseCache
            from promptopt.llm.connection import connect

            self._test_cache = ResponseCache(self.out / "test-cache.sqlite3")
            self._test_client = connect(self.plan.model, role="test", cache=self._test_cache)
        sampling, renderer = downstream_of(config)
        [result] = await evaluate([prompt], examples, task, self._test_client, renderer=renderer, sampling=sampling,
                                  split="test")
        return result


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to run cells of one grid: plain data, pickled to the worker."""

    plan: BenchPlan
    out: str
    data_dir: str | None
    tasks: Mapping[str, Task]
    #: Workers do not share ``out``: each cell's folder travels with it, both ways.
    ship: bool = False


@dataclass(frozen=True)
class CellUnit:
    """A cell as a worker gets it; shipped, with its folder as the driver has it (None: new)."""

    cell: Cell
    folder: bytes | None = None


def _folder_of(folder: Path) -> bytes | None:
    return pack_folder(folder) if folder.is_dir() else None


def run_cell_job(job: CellJob, unit: CellUnit) -> Searched:
    """Search one cell in this process (a bench worker's entry point, see
    :mod:`promptopt.executors`): a harness of its own on the cell's run directory and
    search cache under ``job.out`` (shipped: under a folder of its own, sent back when done); the
    driver then scores it on test and writes its ``cell.json``."""
    import socket
    import tempfile

    cell = unit.cell

    async def search(out: str) -> Searched:
        harness = Harness(job.plan, out, tasks=job.tasks, data_dir=job.data_dir, resume=True)
        try:
            return await harness.search_cell(cell)
        except PromptoptError as exc:  # say which cell, keep the exit status
            raise _named(cell, exc) from exc
        finally:
            await harness.close()

    if not job.ship:
        if not (Path(job.out) / PLAN_FILE).is_file():
            raise _named(cell, UsageError(
                f"this worker ({socket.gethostname()}) does not see --out {job.out}: put --out on storage every "
                "node mounts at the same path, or pass --ship-results to send each cell's folder back"))
        return asyncio.run(search(job.out))
    with tempfile.TemporaryDirectory(prefix="promptopt-cell-") as root:
        folder = cell_dir(Path(root), cell)
        if unit.folder is not None:
            unpack_folder(unit.folder, folder)
        searched = asyncio.run(search(root))
        return dataclasses.replace(searched, shipped=pack_folder(folder))


def _named(cell: Cell | None, exc: PromptoptError) -> PromptoptError:
    """``exc`` with the cell it happened in (a worker's error names it already), same exit status."""
    if cell is None or str(exc).startswith("cell "):
        return exc
    error = PromptoptError(f"cell {cell.key}: {exc}")
    error.exit_code = exc.exit_code
    return error


def _for_cell(cell: Cell, work: Callable[[Cell], Any]) -> Any:
    try:
        return work(cell)
    except PromptoptError as exc:  # say which cell, keep the exit status
        raise _named(cell, exc) from exc


async def _for_cell_async(cell: Cell | None, work: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await work()
    except PromptoptError as exc:
        raise _named(cell, exc) from exc


async def arun_benchmark(
    plan: BenchPlan,
    out: str | Path,
    *,
    tasks: Mapping[str, Task] | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    on_start: CellCallback | None = None,
    on_done: DoneCallback | None = None,
) -> BenchResult:
    """Run every cell of ``plan`` into ``out`` and return the per-cell results (write the report
    with :func:`promptopt.benchmark.report.write_report`). ``tasks`` maps names to Task objects
    for tasks that are not loaded by name."""
    harness = Harness(plan, out, tasks=tasks, data_dir=data_dir, resume=resume)
    return await harness.run(on_start=on_start, on_done=on_done)


def run_benchmark(plan: BenchPlan, out: str | Path, **options: Any) -> BenchResult:
    """:func:`arun_benchmark`, blocking."""
    return asyncio.run(arun_benchmark(plan, out, **options))
