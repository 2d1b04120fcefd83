"""Every command-line option, declared once: an ``Annotated`` type per option, and the option
groups (records several commands take as one parameter, see :mod:`promptopt.cli.groups`).

A flag name that means different things in different commands (``--out``: an artifact, a
folder, a rubric file) is a different option here, each declared once. Only typer and light
records are imported: ``promptopt --help`` reads this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt import bounds
from promptopt.benchmark.plan import BenchSettings
from promptopt.bounds import DEFAULT_NO_IMPROVEMENT
from promptopt.cli.groups import group
from promptopt.settings import ModelRoles, SearchOptions

MODEL_HELP = (
    "Model spec: 'local' (embedded SmolLM2), 'local:PATH.gguf', 'openai:MODEL', "
    "'openai:MODEL@http://host:8000/v1', 'litellm:PROVIDER/MODEL[@URL,URL]', 'vllm:MODEL'; "
    "options after '?', e.g. '?key_env=VAR&max_concurrency=32&rpm=500&tpm=100000&timeout=60'."
)
CACHE_PATH_HELP = "Response cache file (default: $PROMPTOPT_CACHE or the user cache directory)."
DATA_DIR_HELP = "Folder with one sub-folder per task holding dev.jsonl and test.jsonl (default: $PROMPTOPT_DATA_DIR)."


def finite(value: Optional[float]) -> Optional[float]:
    """A typer callback: a threshold that is a number (typer accepts 'nan' and 'inf' as floats)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def seed_list(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """``--seeds``: comma-separated integers, at least one, each once."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            seeds.append(int(part))
        except ValueError:
            raise typer.BadParameter(f"'{part}' is not an integer seed (expected comma-separated integers)",
                                     param_hint=flag) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise typer.BadParameter("give at least one seed, each once", param_hint=flag)
    return tuple(seeds)


# -- models ---------------------------------------------------------------------------------------
Model = Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP)]
MetaModel = Annotated[Optional[str], typer.Option("--meta-model", help="Model spec for the meta-LLM (default: --model).")]
JudgeModel = Annotated[Optional[str], typer.Option("--judge-model", help="Model spec of the judge (judge-scored tasks; default: --model).")]
MetaJudgeModel = Annotated[Optional[str], typer.Option("--meta-judge-model", help="Model spec that rewrites the rubric (default: --meta-model, else --model).")]
HeldoutJudgeModel = Annotated[Optional[str], typer.Option("--heldout-judge-model", help="mpo: another judge for the final choice (default: the task's frozen rubric).")]

# -- tasks and data -------------------------------------------------------------------------------
TaskName = Annotated[str, typer.Option("--task", "-t", help="A registered task name (see 'promptopt tasks') or a JSONL/CSV/Parquet file.")]
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help=DATA_DIR_HELP)]
InputField = Annotated[Optional[list[str]], typer.Option("--input-field", help="Input field(s) of a data file (repeatable).")]
TargetField = Annotated[Optional[str], typer.Option("--target-field", help="Target field of a data file.")]
Split = Annotated[str, typer.Option("--split", help="dev or test.")]
Limit = Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N examples of the split.")]

# -- sampling -------------------------------------------------------------------------------------
MaxTokens = Annotated[Optional[int], typer.Option("--max-tokens", **bounds.flag("max_tokens"), help="Downstream completion token cap (default: the artifact's or the optimizer's, else 256).")]
MetaMaxTokens = Annotated[Optional[int], typer.Option("--meta-max-tokens", **bounds.flag("max_tokens"), help="Meta-LLM completion cap (default 512).")]
Temperature = Annotated[Optional[float], typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature.")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed (sampling; for a run also data splits, blocks, operators).")]
Seeds = Annotated[str, typer.Option("--seeds", help="Comma-separated seeds: the work runs once per seed.")]
Renderer = Annotated[Optional[str], typer.Option("--renderer", help="paper (the CAPO paper's format) or chat (examples as turns; small chat models follow it better). Default: the artifact's, else paper.")]

# -- search sizes ---------------------------------------------------------------------------------
Population = Annotated[Optional[int], typer.Option("--population", **bounds.flag("population", low=2), help="Population size mu (default 10).")]
Offspring = Annotated[Optional[int], typer.Option("--offspring", **bounds.flag("offspring"), help="New candidates per generation: CAPO's c (default 4), EvoPrompt-GA's children (10), OPRO's proposals (8).")]
BlockSize = Annotated[Optional[int], typer.Option("--block-size", **bounds.flag("block_size"), help="Examples per racing block b (default 30).")]
MaxBlocks = Annotated[Optional[int], typer.Option("--max-blocks", **bounds.flag("max_blocks"), help="CAPO: blocks per race z (default 10).")]
MaxShots = Annotated[Optional[int], typer.Option("--max-shots", **bounds.flag("max_shots"), help="CAPO: most few-shot examples per prompt K (default 5).")]
DevSize = Annotated[Optional[int], typer.Option("--dev-size", **bounds.flag("dev_size"), help="Dev examples scored during the search (default 300).")]
PaperCompat = Annotated[bool, typer.Option("--paper-compat", help="CAPO: reproduce the reference implementation, bugs included.")]
def _objectives(value: Optional[str]) -> Optional[str]:
    from promptopt.optimizers.pareto import check_objectives

    if value is not None:
        try:
            check_objectives(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


Objectives = Annotated[Optional[str], typer.Option("--objectives", callback=_objectives, help="What the Pareto front trades off, comma-separated: score, prompt_tokens, completion_tokens (mean per dev example). Default: score,prompt_tokens.")]

# -- budget ---------------------------------------------------------------------------------------
BudgetTokens = Annotated[Optional[int], typer.Option("--budget-tokens", min=1, help="Stop after this many tokens (all roles).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what the budget buys (requests and tokens per generation) and exit; no request is sent.")]
Force = Annotated[bool, typer.Option("--force", help="Run even when the preflight estimate says the budget cannot pay for one generation.")]
BudgetUsd = Annotated[Optional[float], typer.Option("--budget-usd", min=0.0, help="Stop after this many US dollars.")]
MaxCalls = Annotated[Optional[int], typer.Option("--max-calls", min=1, help="Stop after this many LLM requests.")]
MaxTime = Annotated[Optional[float], typer.Option("--max-time", min=1.0, help="Stop after this many seconds.")]
MaxGenerations = Annotated[Optional[int], typer.Option("--max-generations", min=1, help="Stop after this many generations.")]
NoImprovement = Annotated[int, typer.Option("--no-improvement", min=1, help="Stop after this many generations without a better best.")]

# -- runs, caches, output -------------------------------------------------------------------------
RunDirectory = Annotated[Optional[Path], typer.Option("--run-dir", help="Run directory: config, journal, artifacts, summary.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in its directory: finished work is reused from the journal and the cache.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the response cache (nothing is replayable).")]
CachePath = Annotated[Optional[Path], typer.Option("--cache", help=CACHE_PATH_HELP)]
CacheFile = Annotated[Optional[Path], typer.Option("--path", help=CACHE_PATH_HELP)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]

# -- planning -------------------------------------------------------------------------------------
Suite = Annotated[str, typer.Option("--suite", help="A frozen suite: test24, dev100 or household10.")]
Comm = Annotated[str, typer.Option("--comm", help="Communication cost policy: free, tdw or meeting.")]


@dataclass(frozen=True)
class TaskSource:
    """Which task: a registered name, or a data file with its input and target fields."""

    task: str
    data_dir: Optional[Path] = None
    input_field: Optional[list[str]] = None
    target_field: Optional[str] = None


@dataclass(frozen=True)
class CacheChoice:
    """Which response cache a command reads and writes: the default one, a file, or none."""

    cache_path: Optional[Path] = None
    no_cache: bool = False

    def choice(self) -> Any:
        """What ``connect``/``aoptimize`` take as ``cache``: None (``--no-cache``), the default
        cache (opened and checked by the callee), or the ``--cache`` file."""
        if self.no_cache:
            return None
        if self.cache_path is None:
            return "default"
        from promptopt.llm.cache import ResponseCache

        return ResponseCache(self.cache_path)


@dataclass(frozen=True)
class Preflight:
    """What to do with the preflight estimate (bench; optimize has it in :class:`BudgetLimits`)."""

    dry_run: bool = False
    force: bool = False


@dataclass(frozen=True)
class CellWorkers:
    """Where a grid's cells run (bench), and whether their folders travel to the workers and back."""

    executor: Optional[str] = None
    ship_results: bool = False


@dataclass(frozen=True)
class Sharding:
    """A large evaluation in resumable shards (eval): where they checkpoint, how many, where they
    run, which endpoints answer, and whether a Parquet copy of the results is written."""

    out: Optional[Path] = None
    shards: Optional[int] = None
    executor: Optional[str] = None
    endpoints: Optional[list[str]] = None
    parquet: bool = False

    def asked(self) -> Optional[str]:
        """The first sharding flag given, or None."""
        named = (("--shards", self.shards is not None), ("--executor", self.executor is not None),
                 ("--endpoint", bool(self.endpoints)), ("--parquet", self.parquet))
        return next((flag for flag, given in named if given), None)


@dataclass(frozen=True)
class RunOutputs:
    """Where an optimize run writes: its directory (resumable), the best prompt's artifact, the report."""

    out: Optional[Path] = None
    run_dir: Optional[Path] = None
    resume: bool = False
    report: bool = False


@dataclass(frozen=True)
class BudgetLimits:
    """The stop conditions of one run; each flag left out is no limit."""

    budget_tokens: Optional[int] = None
    budget_usd: Optional[float] = None
    max_calls: Optional[int] = None
    max_time: Optional[float] = None
    max_generations: Optional[int] = None
    no_improvement: int = DEFAULT_NO_IMPROVEMENT
    #: Preflight (what the budget buys): print it and exit, or run past its refusal.
    dry_run: bool = False
    force: bool = False

    def budget(self) -> Any:
        from promptopt.budget import Budget

        return Budget.from_options(tokens=self.budget_tokens, usd=self.budget_usd, calls=self.max_calls,
                                   wall_time_s=self.max_time, generations=self.max_generations,
                                   no_improvement=self.no_improvement)


_SEARCH_FLAGS = {
    "population": Population, "offspring": Offspring, "dev_size": DevSize, "block_size": BlockSize,
    "max_shots": MaxShots, "max_tokens": MaxTokens, "meta_max_tokens": MetaMaxTokens, "renderer": Renderer,
    "max_blocks": MaxBlocks, "paper_compat": PaperCompat, "objectives": Objectives,
}
group(SearchOptions, _SEARCH_FLAGS, panel="Search")
group(BenchSettings, {
    **_SEARCH_FLAGS,
    "test_limit": Annotated[Optional[int], typer.Option("--test-limit", min=1, help="Score best prompts on the first N test examples only.")],
    "no_improvement": NoImprovement,
    "answer_tags": Annotated[bool, typer.Option("--answer-tags/--no-answer-tags", help="--no-answer-tags: count a label written anywhere in the reply, without the task's answer tags (small models rarely write tags zero-shot).")],
}, panel="Search and scoring")
group(ModelRoles, {"model": Model, "meta_model": MetaModel, "judge_model": JudgeModel,
                   "meta_judge_model": MetaJudgeModel, "heldout_judge_model": HeldoutJudgeModel}, panel="Models")
group(TaskSource, {"task": TaskName, "data_dir": DataDir, "input_field": InputField, "target_field": TargetField},
      panel="Task")
group(CacheChoice, {"cache_path": CachePath, "no_cache": NoCache})
group(Preflight, {"dry_run": DryRun, "force": Force}, panel="Budget")
Executor = Annotated[Optional[str], typer.Option("--executor", help="Where the units of work run: serial (default, in this process), processes[:N] (N at a time, default the CPU count), ray[:ADDRESS] (a local Ray instance, or the cluster at ADDRESS; extra 'ray').")]
group(CellWorkers, {
    "executor": Executor,
    "ship_results": Annotated[bool, typer.Option("--ship-results", help="Workers do not share --out (a cluster without shared storage): each cell's folder is sent to its worker and back to --out here.")],
}, panel="Workers")
group(Sharding, {
    "out": Annotated[Optional[Path], typer.Option("--out", help="Score in resumable shards: their checkpoints (shards/*.jsonl), results.jsonl and summary.json go in this folder; rerun to resume.")],
    "shards": Annotated[Optional[int], typer.Option("--shards", min=1, help="How many shards (default 1 serially, else one per 250 examples).")],
    "executor": Executor,
    "endpoints": Annotated[Optional[list[str]], typer.Option("--endpoint", help="Another endpoint serving the same model (repeatable); shards go round-robin over --model and these.")],
    "parquet": Annotated[bool, typer.Option("--parquet", help="Also write results.parquet (extra 'parquet').")],
}, panel="Shards")
group(RunOutputs, {
    "out": Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the best prompt's artifact here (e.g. prompts/T.json).")],
    "run_dir": RunDirectory, "resume": Resume,
    "report": Annotated[bool, typer.Option("--report", help="Write RUN_DIR/report.html at the end (see 'promptopt report').")],
}, panel="Output")
group(BudgetLimits, {"budget_tokens": BudgetTokens, "budget_usd": BudgetUsd, "max_calls": MaxCalls,
                     "max_time": MaxTime, "max_generations": MaxGenerations, "no_improvement": NoImprovement,
                     "dry_run": DryRun, "force": Force},
      panel="Budget")
