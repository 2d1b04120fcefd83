"""What a benchmark runs: the grid of (optimizer, task, seed) cells and the settings they share.

Fairness lives here: every cell of a benchmark gets the same model, budget, data sizes, sampling
and renderer, and every optimizer in a (task, seed) starts from the same initial prompts.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from promptopt import jsonio
from promptopt.bounds import DEFAULT_NO_IMPROVEMENT
from promptopt.errors import PromptoptError
from promptopt.settings import SearchOptions

#: Hand-written starting instructions for the shared benchmark tasks (our own wording). They ask
#: for the bare label: small models rarely write answer tags zero-shot (see ``answer_tags``).
DEFAULT_INITIAL_PROMPTS: Mapping[str, tuple[str, ...]] = {
    "sst2": (
        "Is the sentiment of this movie review sentence positive or negative? Reply with one word.",
        "Read the sentence from a film review and say whether the reviewer liked the film: positive or negative.",
        "Label the review sentence as positive or negative.",
        "You judge movie reviews. Answer 'positive' if the sentence praises the film, 'negative' if it criticizes it.",
    ),
    "sst5": (
        "Rate the movie review sentence as terrible, bad, okay, good or great. Reply with one word.",
        "How much did the reviewer like the film? Answer terrible, bad, okay, good or great.",
        "Give the sentiment of the review sentence on a five-step scale: terrible, bad, okay, good, great.",
        "Read the review sentence and pick one rating from terrible, bad, okay, good, great.",
    ),
    "mr": (
        "Is this movie review snippet positive or negative? Reply with one word.",
        "Say whether the reviewer liked the film: positive or negative.",
        "Label the review snippet as positive or negative.",
        "You judge movie reviews. Answer 'positive' for praise and 'negative' for criticism.",
    ),
    "subj": (
        "Is this sentence subjective (an opinion) or objective (a statement of plot facts)? Reply with one word.",
        "Decide whether the movie sentence states an opinion or describes what happens. Answer subjective or objective.",
        "Label the sentence as subjective or objective.",
        "A sentence that judges the film is subjective; one that only tells the story is objective. Which is this?",
    ),
    "agnews": (
        "What is the topic of this news article: World, Sports, Business or Tech? Reply with one word.",
        "Classify the news story into one of four sections: World, Sports, Business, Tech.",
        "Label the article's topic as World, Sports, Business or Tech.",
        "You sort news for a paper. Name the section this article belongs in: World, Sports, Business or Tech.",
    ),
}


def derived_initial_prompts(description: str, labels: Sequence[str] | None) -> tuple[str, ...]:
    """Starting instructions for a task without hand-written ones, built from its description."""
    prompts = [description.strip(), f"{description.strip()} Reply with the answer only."]
    if labels:
        prompts.append(f"Choose one label for the input: {', '.join(labels)}. Reply with the label only.")
    return tuple(prompts)


def load_initial_prompts(path: str | Path) -> dict[str, tuple[str, ...]]:
    """An ``--initial-prompts`` file: a JSON object mapping task names to lists of instructions."""
    path = Path(path)
    try:
        data = jsonio.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptoptError(f"--initial-prompts: no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise PromptoptError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}) (--initial-prompts)") from None
    if not isinstance(data, dict):
        raise PromptoptError(f"{path}: expected a JSON object mapping task names to lists of instructions")
    prompts: dict[str, tuple[str, ...]] = {}
    for task, items in data.items():
        if not isinstance(items, list) or not items or not all(isinstance(p, str) and p.strip() for p in items):
            raise PromptoptError(f"{path}: task '{task}' must map to a non-empty list of non-empty strings")
        prompts[task] = tuple(p.strip() for p in items)
    return prompts


@dataclass(frozen=True)
class BenchSettings(SearchOptions):
    """The search options every cell shares (each applied to every optimizer that has it; None
    keeps each optimizer's own default), and how cells stop and are scored.

    Its JSON form is part of each cell's identity (a stored cell is reused only if it matches)."""

    #: Test examples scored per best prompt (the first N of the test split; None: all).
    test_limit: int | None = None
    #: Stop a cell after this many generations without a better best (as ``aoptimize`` does for
    #: a token budget): a search whose meta answers all come from its cache spends nothing and
    #: would otherwise never reach the token limit. None: only the budget stops it.
    no_improvement: int | None = DEFAULT_NO_IMPROVEMENT
    #: False: a reply's answer counts without the task's answer tags (a label written anywhere in
    #: it, as long as it is the only one). Small models rarely write tags zero-shot, and a parser
    #: that needs them scores every zero-shot prompt 0, which leaves nothing to compare.
    answer_tags: bool = True

    def __post_init__(self) -> None:
        for name in ("population", "offspring", "dev_size", "block_size", "max_tokens", "meta_max_tokens", "test_limit",
                     "no_improvement", "max_blocks"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.max_shots is not None and self.max_shots < 0:
            raise ValueError(f"max_shots must be >= 0, got {self.max_shots}")


@dataclass(frozen=True)
class Cell:
    """One optimizer run: an optimizer on a task with a seed."""

    optimizer: str
    task: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.task}/{self.optimizer}/seed{self.seed}"


@dataclass(frozen=True)
class BenchPlan:
    """Optimizers × tasks × seeds at one token budget against one model spec."""

    optimizers: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    budget_tokens: int
    model: str = "local"
    meta_model: str | None = None
    settings: BenchSettings = field(default_factory=BenchSettings)
    #: Initial prompts per task; tasks not named here get the defaults (see :func:`initial_prompts_for`).
    initial_prompts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("optimizers", "tasks", "seeds"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"a benchmark needs at least one of {name}")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} are repeated: {', '.join(map(str, values))}")
        if self.budget_tokens < 1:
            raise ValueError(f"budget_tokens must be >= 1, got {self.budget_tokens}")

    def cells(self) -> Iterator[Cell]:
        """Seed by seed, task by task, every optimizer: an interrupted benchmark has compared every
        optimizer on the same (task, seed) pairs, and on every task before a second seed."""
        for seed, task, optimizer in itertools.product(self.seeds, self.tasks, self.optimizers):
            yield Cell(optimizer, task, seed)

    def initial_prompts_for(self, task: str, description: str, labels: Sequence[str] | None) -> tuple[str, ...]:
        """The given prompts, else the hand-written defaults, else ones derived from the description."""
        if task in self.initial_prompts:
            return tuple(self.initial_prompts[task])
        if task in DEFAULT_INITIAL_PROMPTS:
            return DEFAULT_INITIAL_PROMPTS[task]
        return derived_initial_prompts(description, labels)
