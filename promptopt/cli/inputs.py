"""From flags to the things commands work on: the task, a prompt file, a model spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from promptopt.cli.options import TaskSource


def resolve_task(source: TaskSource) -> Any:
    """A task name, or a data file with --input-field/--target-field."""
    from promptopt.tasks.registry import load_task, load_task_from_file

    path = Path(source.task)
    if path.suffix.lower() in (".jsonl", ".csv", ".parquet") or path.is_file():
        if not source.input_field or not source.target_field:
            raise typer.BadParameter(
                "a data file needs --input-field (repeatable) and --target-field", param_hint="--task"
            )
        return load_task_from_file(path, input_fields=source.input_field, target_field=source.target_field)
    if source.input_field or source.target_field:
        raise typer.BadParameter("--input-field/--target-field only apply to a data file", param_hint="--task")
    return load_task(source.task, data_dir=source.data_dir)


def load_candidate(path: Path, task: Any) -> tuple[Any, Any]:
    """(Prompt, Artifact or None) from an artifact JSON file or a hand-written prompt text file
    (UTF-8, a byte-order mark dropped); an artifact made for another task is scored with a warning."""
    from promptopt.artifact import Artifact
    from promptopt.prompt import load_prompt_text

    if path.suffix.lower() == ".json":
        artifact = Artifact.load(path)
        _warn_other_task(path, artifact, task)
        return artifact.to_prompt(), artifact
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory: give a prompt artifact (.json) or a text file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise typer.BadParameter(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise typer.BadParameter(f"{path} is empty: write the instruction into it")
    return load_prompt_text(text), None


def _warn_other_task(path: Path, artifact: Any, task: Any) -> None:
    """Scoring a prompt on a task it was not made for is allowed (transfer), but never silent."""
    import warnings

    made_for = artifact.task
    if made_for.name != task.name:
        warnings.warn(f"{path} was made for task '{made_for.name}'; scoring it on task '{task.name}'", stacklevel=2)
    elif made_for.fingerprint != task.fingerprint():
        warnings.warn(
            f"{path} was made for task '{task.name}' with other data (fingerprint {made_for.fingerprint} "
            f"there, {task.fingerprint()} here): its stored scores do not apply to these examples",
            stacklevel=2,
        )


def model_or_default(model: Optional[str], artifact: Any) -> str:
    """--model as given (an empty one is refused, never read as "use the default"), else the
    artifact's model, else the embedded one."""
    if model is not None:
        if not model.strip():
            raise typer.BadParameter("the model spec is empty (e.g. 'local' or 'openai:MODEL@URL')", param_hint="'--model'")
        return model
    return artifact.model.spec if artifact is not None and artifact.model else "local"


def parse_names(value: str, flag: str) -> tuple[str, ...]:
    """A comma-separated list flag: at least one name, each once."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise typer.BadParameter("name at least one", param_hint=flag)
    if len(set(names)) != len(names):
        raise typer.BadParameter(f"a name is repeated: {value}", param_hint=flag)
    return names
