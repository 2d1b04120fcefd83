"""A task: data splits, how inputs render, how answers are extracted and scored."""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from typing import Mapping, Protocol, Sequence, runtime_checkable

from promptopt.tasks.records import (
    AnswerParser,
    Example,
    Metric,
    ParsedAnswer,
    SourceInfo,
    Splits,
    carve_fewshot_pool,
    fingerprint_examples,
)


def render_inputs(
    inputs: Mapping[str, str], fields: Sequence[str], template: str | None = None
) -> str:
    """The text the model sees for one example's inputs.

    A ``str.format`` template over the fields when given; otherwise one field as-is, several as
    "Field: value" lines. Shared by tasks and by loaded artifacts, so both render identically.
    """
    missing = [name for name in fields if name not in inputs]
    if missing:
        raise KeyError(f"missing input field(s): {', '.join(missing)} (expected: {', '.join(fields)})")
    if template is not None:
        check_template(template, fields)
        return template.format_map({name: inputs[name] for name in fields})
    if len(fields) == 1:
        return inputs[fields[0]]
    return "\n".join(f"{name.replace('_', ' ').capitalize()}: {inputs[name]}" for name in fields)


def check_template(template: str, fields: Sequence[str]) -> None:
    """Allow only plain ``{field}`` placeholders: templates come from files and artifacts, and
    ``str.format`` would otherwise reach attributes (``{text.__class__}``) or formatting specs."""
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in fields or spec or conversion:
            raise ValueError(
                f"input template placeholder '{{{name}}}' is not allowed: use plain "
                f"{{field}} placeholders with fields from: {', '.join(fields)}"
            )


@runtime_checkable
class Judge(Protocol):
    """Hook for judge-scored tasks (no labels): scores raw outputs in [0, 1].

    When a task carries a judge, evaluation calls it instead of parser + metric. The LLM judge with
    an evolving rubric plugs in here.
    """

    async def score(self, outputs: Sequence[str], examples: Sequence[Example]) -> list[float]:
        ...


@dataclass(frozen=True)
class Task:
    """Everything needed to turn a prompt into a score on this task."""

    name: str
    description: str
    input_fields: tuple[str, ...]
    target_field: str
    parser: AnswerParser
    metric: Metric
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    source: SourceInfo
    #: ``str.format`` template over the input fields; None renders one field as-is, several as
    #: "Field: value" lines.
    input_template: str | None = None
    labels: tuple[str, ...] | None = None
    judge: Judge | None = field(default=None, compare=False)

    def render_input(self, example: Example) -> str:
        return render_inputs(example.inputs, self.input_fields, self.input_template)

    def parse(self, text: str) -> ParsedAnswer:
        return self.parser.parse(text)

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        """Per-example score in [0, 1]; a failed parse scores 0."""
        if not prediction.ok:
            return 0.0
        return self.metric.score(prediction, target)

    def splits(self, *, seed: int = 42, fewshot_pool_size: int = 0) -> Splits:
        """dev, a few-shot pool carved from dev with ``seed``, and test (never touched)."""
        dev, pool = carve_fewshot_pool(self.dev, pool_size=fewshot_pool_size, seed=seed)
        return Splits(dev=dev, fewshot_pool=pool, test=self.test)

    def split(self, name: str) -> tuple[Example, ...]:
        if name == "dev":
            return self.dev
        if name == "test":
            return self.test
        raise ValueError(f"unknown split '{name}': choose 'dev' or 'test'")

    def fingerprint(self, split: str | None = None) -> str:
        """Hash of the data (one split, or dev then test): ties a score to the exact data."""
        examples = self.split(split) if split else self.dev + self.test
        return fingerprint_examples(examples)

    @property
    def answer_format(self) -> str:
        """A short description for listings, from the parser's spec."""
        spec = self.parser.spec()
        kind = str(spec.get("kind", "?"))
        if self.labels:
            return f"{kind}: {' / '.join(self.labels)}"
        return kind

    def with_examples(self, dev: Sequence[Example], test: Sequence[Example]) -> "Task":
        return replace(self, dev=tuple(dev), test=tuple(test))
