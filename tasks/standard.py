"""Definitions of the standard benchmark tasks: fields, label sets, parser, metric, HF source.

A definition is pure data; the registry turns it into a :class:`Task` with examples from a local
data directory (the format of the project's benchmark data) or from the Hugging Face Hub.
Field names and label spellings match the benchmark data folder, so both routes give the same
kind of task.

Revisions: every Hub source is pinned to a *named ref* ("main", or "refs/convert/parquet" for the
Hub's own Parquet export). These are placeholders until real commit SHAs are recorded; the field
exists so that pinning a SHA later is a one-line change per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

from promptopt.tasks.metrics import metric_from_name
from promptopt.tasks.parsers import parser_from_spec
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.task import Task

#: The tag every task description asks the model to put its answer in.
ANSWER_TAGS = "<final_answer></final_answer>"

#: The Hub's automatic Parquet export: files at ``{config}/{split}/0000.parquet``.
PARQUET_EXPORT = "refs/convert/parquet"


@dataclass(frozen=True)
class HFSource:
    """Where a task lives on the Hugging Face Hub and how its schema maps to ours.

    ``dev_split``/``test_split`` name the dataset's splits; when both are the same split, dev and
    test are carved from it disjointly. ``fields`` maps our field names to dataset columns.
    ``label_map`` maps a target value (as text, e.g. the class id "0") to our label.
    """

    repo: str
    revision: str
    config: str | None
    dev_split: str
    test_split: str
    fields: Mapping[str, str] = field(hash=False)
    label_map: Mapping[str, str] | None = field(default=None, hash=False)
    #: Post-processing of the target text: None, or "after_hashes" (GSM8K: the number after ####).
    target_transform: str | None = None
    #: Seeded sample sizes; None takes everything (for one shared split: half each).
    dev_size: int | None = 500
    test_size: int | None = 500
    seed: int = 0
    #: Explicit file paths in the repo per split name; otherwise the Parquet-export layout.
    files: Mapping[str, str] = field(default_factory=dict, hash=False)

    def file_for(self, split: str) -> str:
        """Path of a split's file inside the repo at ``revision``."""
        if split in self.files:
            return self.files[split]
        return f"{self.config or 'default'}/{split}/0000.parquet"

    @property
    def location(self) -> str:
        config = f"/{self.config}" if self.config else ""
        return f"{self.repo}{config}@{self.revision}"


@dataclass(frozen=True)
class TaskDefinition:
    """A standard task as data: what the model is asked, which fields, how answers are read."""

    name: str
    description: str
    input_fields: tuple[str, ...]
    target_field: str
    labels: tuple[str, ...] | None
    parser_spec: Mapping[str, object] = field(hash=False)
    metric: str = "accuracy"
    input_template: str | None = None
    hf: HFSource | None = None

    @property
    def answer_format(self) -> str:
        kind = str(self.parser_spec.get("kind", "?"))
        return f"{kind}: {' / '.join(self.labels)}" if self.labels else kind

    def build(self, dev: Sequence[Example], test: Sequence[Example], source: SourceInfo) -> Task:
        """The task with these examples."""
        return build_task(
            name=self.name,
            description=self.description,
            input_fields=self.input_fields,
            target_field=self.target_field,
            labels=self.labels,
            parser_spec=self.parser_spec,
            metric=self.metric,
            input_template=self.input_template,
            dev=dev,
            test=test,
            source=source,
        )


def build_task(
    *,
    name: str,
    description: str,
    input_fields: Sequence[str],
    target_field: str,
    labels: Sequence[str] | None,
    parser_spec: Mapping[str, object],
    metric: str,
    dev: Sequence[Example],
    test: Sequence[Example],
    source: SourceInfo,
    input_template: str | None = None,
) -> Task:
    """A :class:`Task` from plain data (parser spec and metric name are resolved here)."""
    return Task(
        name=name,
        description=description,
        input_fields=tuple(input_fields),
        target_field=target_field,
        parser=parser_from_spec(dict(parser_spec)),
        metric=metric_from_name(metric),
        dev=tuple(dev),
        test=tuple(test),
        source=source,
        input_template=input_template,
        labels=tuple(labels) if labels is not None else None,
    )


def label_spec(labels: Sequence[str]) -> dict[str, object]:
    return {"kind": "label", "labels": list(labels)}


def number_spec(mode: str = "last") -> dict[str, object]:
    return {"kind": "number", "mode": mode}


def choice_spec(letters: Sequence[str]) -> dict[str, object]:
    return {"kind": "choice", "letters": list(letters)}


EXACT_SPEC: Mapping[str, object] = MappingProxyType({"kind": "exact"})


def generic_description(
    input_fields: Sequence[str], target_field: str, labels: Sequence[str] | None, kind: str
) -> str:
    """A neutral description for a user's own data, where we know only fields and answers."""
    given = " and ".join(f"'{name}'" for name in input_fields)
    if labels:
        what = f"answer with the {target_field}: one of {', '.join(labels)}"
    elif kind == "number":
        what = f"answer with the {target_field}, a number"
    else:
        what = f"answer with the {target_field}"
    return f"Given the {given}, {what}. Put the answer inside {ANSWER_TAGS} tags."


# --------------------------------------------------------------------------------------------
# The definitions

_BINARY = ("negative", "positive")
_SST5 = ("terrible", "bad", "okay", "good", "great")
_SUBJ = ("subjective", "objective")
_AGNEWS = ("World", "Sports", "Business", "Tech")
_TREC = ("abbreviation", "entity", "description", "human", "location", "number")
_COPA = ("(A)", "(B)")
_LETTERS6 = ("A", "B", "C", "D", "E", "F")
_LETTERS3 = ("A", "B", "C")


def _ids(names: Sequence[str]) -> Mapping[str, str]:
    """Class id (as text) → our label, for datasets storing labels as ``ClassLabel`` ids."""
    return {str(i): name for i, name in enumerate(names)}


def _classification(
    name: str, description: str, labels: Sequence[str], hf: HFSource
) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        description=description,
        input_fields=("text",),
        target_field="label",
        labels=tuple(labels),
        parser_spec=label_spec(labels),
        metric="accuracy",
        hf=hf,
    )


def _bbh(
    task: str, description: str, *, labels: Sequence[str] | None, parser_spec: Mapping[str, object],
    metric: str = "accuracy",
) -> TaskDefinition:
    return TaskDefinition(
        name=f"bbh_{task}",
        description=description,
        input_fields=("question",),
        target_field="answer",
        labels=tuple(labels) if labels is not None else None,
        parser_spec=parser_spec,
        metric=metric,
        hf=HFSource(
            repo="lukaemon/bbh",
            revision=PARQUET_EXPORT,
            config=task,
            dev_split="test",
            test_split="test",
            fields={"question": "input", "answer": "target"},
            dev_size=None,
            test_size=None,
        ),
    )


_DEFINITIONS: tuple[TaskDefinition, ...] = (
    _classification(
        "sst2",
        "Classify the sentiment of a sentence from a movie review as negative or positive. "
        f"Put the label inside {ANSWER_TAGS} tags.",
        _BINARY,
        HFSource(
            repo="stanfordnlp/sst2",
            revision="main",
            config=None,
            dev_split="train",
            test_split="validation",  # the test split has no labels
            fields={"text": "sentence", "label": "label"},
            label_map=_ids(_BINARY),
            files={
                "train": "data/train-00000-of-00001.parquet",
                "validation": "data/validation-00000-of-00001.parquet",
            },
        ),
    ),
    _classification(
        "sst5",
        "Rate the sentiment of a sentence from a movie review as terrible, bad, okay, good or "
        f"great. Put the rating inside {ANSWER_TAGS} tags.",
        _SST5,
        HFSource(
            repo="SetFit/sst5",
            revision="main",
            config=None,
            dev_split="train",
            test_split="test",
            fields={"text": "text", "label": "label"},
            label_map=_ids(_SST5),  # 0 very negative … 4 very positive
            files={"train": "train.jsonl", "test": "test.jsonl"},
        ),
    ),
    _classification(
        "subj",
        "Decide whether a sentence from a movie review is subjective (an opinion) or objective "
        f"(a plot fact). Put subjective or objective inside {ANSWER_TAGS} tags.",
        _SUBJ,
        HFSource(
            repo="SetFit/subj",
            revision="main",
            config=None,
            dev_split="train",
            test_split="test",
            fields={"text": "text", "label": "label_text"},
            label_map={"subjective": "subjective", "objective": "objective"},
            files={"train": "train.jsonl", "test": "test.jsonl"},
        ),
    ),
    _classification(
        "agnews",
        "Classify a news article by topic as World, Sports, Business or Tech. "
        f"Put the topic inside {ANSWER_TAGS} tags.",
        _AGNEWS,
        HFSource(
            repo="fancyzhx/ag_news",
            revision="main",
            config=None,
            dev_split="train",
            test_split="test",
            fields={"text": "text", "label": "label"},
            label_map=_ids(_AGNEWS),  # id 3 is "Sci/Tech"
            files={
                "train": "data/train-00000-of-00001.parquet",
                "test": "data/test-00000-of-00001.parquet",
            },
        ),
    ),
    _classification(
        "mr",
        "Classify the sentiment of a movie review snippet as negative or positive. "
        f"Put the label inside {ANSWER_TAGS} tags.",
        _BINARY,
        HFSource(
            repo="cornell-movie-review-data/rotten_tomatoes",
            revision=PARQUET_EXPORT,
            config="default",
            dev_split="train",
            test_split="test",
            fields={"text": "text", "label": "label"},
            label_map=_ids(_BINARY),
        ),
    ),
    _classification(
        "trec",
        "Classify what kind of answer a question asks for: abbreviation, entity, description, "
        f"human, location or number. Put the type inside {ANSWER_TAGS} tags.",
        _TREC,
        HFSource(
            repo="CogComp/trec",
            revision=PARQUET_EXPORT,
            config="default",
            dev_split="train",
            test_split="test",
            fields={"text": "text", "label": "coarse_label"},
            label_map=_ids(_TREC),  # ABBR, ENTY, DESC, HUM, LOC, NUM
        ),
    ),
    TaskDefinition(
        name="gsm8k",
        description="Solve a grade-school math word problem step by step, then put the final "
        f"numeric answer (just the number) inside {ANSWER_TAGS} tags.",
        input_fields=("question",),
        target_field="answer",
        labels=None,
        parser_spec=number_spec(),
        metric="numeric_match",
        hf=HFSource(
            repo="openai/gsm8k",
            revision="main",
            config="main",
            dev_split="train",
            test_split="test",
            fields={"question": "question", "answer": "answer"},
            target_transform="after_hashes",
            files={
                "train": "main/train-00000-of-00001.parquet",
                "test": "main/test-00000-of-00001.parquet",
            },
        ),
    ),
    TaskDefinition(
        name="copa",
        description="Given a premise and two alternatives, pick the one that is more plausibly "
        f"the asked cause or effect of the premise. Put (A) or (B) inside {ANSWER_TAGS} tags.",
        input_fields=("premise", "question", "choice1", "choice2"),
        target_field="label",
        labels=_COPA,
        parser_spec=choice_spec(("A", "B")),
        metric="accuracy",
        input_template="Premise: {premise}\nWhat was the {question}?\n(A) {choice1}\n(B) {choice2}",
        hf=HFSource(
            repo="pkavumba/balanced-copa",
            revision=PARQUET_EXPORT,
            config="default",
            dev_split="train",
            test_split="test",
            fields={
                "premise": "premise",
                "question": "question",
                "choice1": "choice1",
                "choice2": "choice2",
                "label": "label",
            },
            label_map=_ids(_COPA),
        ),
    ),
    _bbh(
        "sports_understanding",
        "Decide whether a sentence about sports is plausible. "
        f"Put yes or no inside {ANSWER_TAGS} tags.",
        labels=("yes", "no"),
        parser_spec=label_spec(("yes", "no")),
    ),
    _bbh(
        "date_understanding",
        "Answer a question about dates by choosing one of the options (A) to (F). "
        f"Put the option, such as (B), inside {ANSWER_TAGS} tags.",
        labels=tuple(f"({x})" for x in _LETTERS6),
        parser_spec=choice_spec(_LETTERS6),
    ),
    _bbh(
        "object_counting",
        "Count the objects of the asked kind in a list of items. "
        f"Put the count, as a number, inside {ANSWER_TAGS} tags.",
        labels=None,
        parser_spec=number_spec(),
        metric="numeric_match",
    ),
    _bbh(
        "boolean_expressions",
        "Evaluate a Boolean expression of True, False, not, and, or and parentheses. "
        f"Put True or False inside {ANSWER_TAGS} tags.",
        labels=("True", "False"),
        parser_spec=label_spec(("True", "False")),
    ),
    _bbh(
        "navigate",
        "Follow a list of movement instructions and decide whether they lead back to the "
        f"starting point. Put Yes or No inside {ANSWER_TAGS} tags.",
        labels=("Yes", "No"),
        parser_spec=label_spec(("Yes", "No")),
    ),
    _bbh(
        "web_of_lies",
        "Work out from a chain of statements about who lies and who tells the truth whether the "
        f"last person tells the truth. Put Yes or No inside {ANSWER_TAGS} tags.",
        labels=("Yes", "No"),
        parser_spec=label_spec(("Yes", "No")),
    ),
    _bbh(
        "logical_deduction_three_objects",
        "Deduce the order of three objects from a set of clues and choose the true option (A) to "
        f"(C). Put the option, such as (B), inside {ANSWER_TAGS} tags.",
        labels=tuple(f"({x})" for x in _LETTERS3),
        parser_spec=choice_spec(_LETTERS3),
    ),
    _bbh(
        "multistep_arithmetic_two",
        "Evaluate a nested arithmetic expression of integers. "
        f"Put the resulting number inside {ANSWER_TAGS} tags.",
        labels=None,
        parser_spec=number_spec(),
        metric="numeric_match",
    ),
)

#: Standard task definitions by name.
DEFINITIONS: Mapping[str, TaskDefinition] = MappingProxyType({d.name: d for d in _DEFINITIONS})
