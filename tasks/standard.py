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


def _ids(names: Sequence[str]) -> Mapping[str, str]:
    """Class id (as text) → our label, for datasets storing labels as ``ClassLabel`` ids."""
    return {str(i): name for i, name in enumerate(names)}


def _classification(
    name: str,
    description: str,
    labels: Sequence[str],
    repo: str,
    *,
    text: str = "text",
    label: str = "label",
    label_map: Mapping[str, str] | None = None,
    test_split: str = "test",
    files: Mapping[str, str] | None = None,
) -> TaskDefinition:
    """A text classification task from the Hub: its ``text`` and ``label`` columns, the labels
    stored as class ids unless ``label_map`` says otherwise; its own ``files`` at ``main``, else
    the Hub's Parquet export."""
    return TaskDefinition(
        name=name,
        description=description,
        input_fields=("text",),
        target_field="label",
        labels=tuple(labels),
        parser_spec=label_spec(labels),
        metric="accuracy",
        hf=HFSource(
            repo=repo,
            revision="main" if files else PARQUET_EXPORT,
            config=None if files else "default",
            dev_split="train",
            test_split=test_split,
            fields={"text": text, "label": label},
            label_map=label_map if label_map is not None else _ids(labels),
            files=dict(files or {}),
        ),
    )


@dataclass(frozen=True)
class _Answer:
    """A BBH task's answer: its labels, parser and metric, and the description's closing
    sentence, so a table entry says only what differs between tasks."""

    labels: tuple[str, ...] | None
    parser_spec: Mapping[str, object]
    put: str  # what the description asks the model to put inside the answer tags
    metric: str = "accuracy"


def _one_of(*labels: str) -> _Answer:
    return _Answer(labels, label_spec(labels), " or ".join(labels))


def _option(letters: str) -> _Answer:
    return _Answer(tuple(f"({x})" for x in letters), choice_spec(letters), "the option, such as (B),")


def _number(put: str) -> _Answer:
    return _Answer(None, number_spec(), put, "numeric_match")


def _bbh(task: str, answer: _Answer, question: str) -> TaskDefinition:
    return TaskDefinition(
        name=f"bbh_{task}",
        description=f"{question} Put {answer.put} inside {ANSWER_TAGS} tags.",
        input_fields=("question",),
        target_field="answer",
        labels=answer.labels,
        parser_spec=answer.parser_spec,
        metric=answer.metric,
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
        "stanfordnlp/sst2",
        text="sentence",
        test_split="validation",  # the test split has no labels
        files={"train": "data/train-00000-of-00001.parquet", "validation": "data/validation-00000-of-00001.parquet"},
    ),
    _classification(
        "sst5",
        "Rate the sentiment of a sentence from a movie review as terrible, bad, okay, good or "
        f"great. Put the rating inside {ANSWER_TAGS} tags.",
        _SST5,  # ids 0 very negative … 4 very positive
        "SetFit/sst5",
        files={"train": "train.jsonl", "test": "test.jsonl"},
    ),
    _classification(
        "subj",
        "Decide whether a sentence from a movie review is subjective (an opinion) or objective "
        f"(a plot fact). Put subjective or objective inside {ANSWER_TAGS} tags.",
        _SUBJ,
        "SetFit/subj",
        label="label_text",
        label_map={"subjective": "subjective", "objective": "objective"},
        files={"train": "train.jsonl", "test": "test.jsonl"},
    ),
    _classification(
        "agnews",
        "Classify a news article by topic as World, Sports, Business or Tech. "
        f"Put the topic inside {ANSWER_TAGS} tags.",
        _AGNEWS,  # id 3 is "Sci/Tech"
        "fancyzhx/ag_news",
        files={"train": "data/train-00000-of-00001.parquet", "test": "data/test-00000-of-00001.parquet"},
    ),
    _classification(
        "mr",
        "Classify the sentiment of a movie review snippet as negative or positive. "
        f"Put the label inside {ANSWER_TAGS} tags.",
        _BINARY,
        "cornell-movie-review-data/rotten_tomatoes",
    ),
    _classification(
        "trec",
        "Classify what kind of answer a question asks for: abbreviation, entity, description, "
        f"human, location or number. Put the type inside {ANSWER_TAGS} tags.",
        _TREC,  # ids of ABBR, ENTY, DESC, HUM, LOC, NUM
        "CogComp/trec",
        label="coarse_label",
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
    _bbh("sports_understanding", _one_of("yes", "no"), "Decide whether a sentence about sports is plausible."),
    _bbh("date_understanding", _option("ABCDEF"),
         "Answer a question about dates by choosing one of the options (A) to (F)."),
    _bbh("object_counting", _number("the count, as a number,"),
         "Count the objects of the asked kind in a list of items."),
    _bbh("boolean_expressions", _one_of("True", "False"),
         "Evaluate a Boolean expression of True, False, not, and, or and parentheses."),
    _bbh("navigate", _one_of("Yes", "No"),
         "Follow a list of movement instructions and decide whether they lead back to the starting point."),
    _bbh("web_of_lies", _one_of("Yes", "No"),
         "Work out from a chain of statements about who lies and who tells the truth whether the last person "
         "tells the truth."),
    _bbh("logical_deduction_three_objects", _option("ABC"),
         "Deduce the order of three objects from a set of clues and choose the true option (A) to (C)."),
    _bbh("multistep_arithmetic_two", _number("the resulting number"),
         "Evaluate a nested arithmetic expression of integers."),
)

#: Standard task definitions by name.
DEFINITIONS: Mapping[str, TaskDefinition] = MappingProxyType({d.name: d for d in _DEFINITIONS})
