"""Option groups: a record whose fields several commands set from the command line, declared once.

A command takes the record as one parameter (``search: SearchOptions``); :func:`command` spreads
the record's fields into the flags Typer sees (each field's ``Annotated`` option declared once in
:mod:`promptopt.cli.options`, its default the record's) and builds the record from them before the
command runs. So a command's own signature stays short, every command that shares a group has
the same flags with the same help, and the command gets a validated record, not a flag soup.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import typing
from typing import Any, Callable, Mapping, TypeVar

__all__ = ["command", "group"]

_F = TypeVar("_F", bound=Callable[..., Any])
#: Record type -> its fields' option declarations (``Annotated[type, typer.Option(...)]``).
_GROUPS: dict[type, Mapping[str, Any]] = {}


def group(record: type, flags: Mapping[str, Any], panel: str | None = None) -> type:
    """Register ``record`` (a dataclass) as an option group with one declaration per field;
    ``panel`` titles the box its flags share in ``--help``."""
    names = [f.name for f in dataclasses.fields(record) if f.init]
    missing = sorted(set(names) - set(flags))
    extra = sorted(set(flags) - set(names))
    if missing or extra:
        raise TypeError(f"option group {record.__name__}: no flag for {missing}, unknown fields {extra}")
    _GROUPS[record] = {name: _in_panel(flag, panel) for name, flag in flags.items()}
    return record


def _in_panel(flag: Any, panel: str | None) -> Any:
    """``Annotated[T, typer.Option(...)]`` shown in the help box ``panel`` (a copy: the same
    declaration may sit in several groups)."""
    if panel is None:
        return flag
    base, *extras = typing.get_args(flag)
    extras = [copy.copy(extra) for extra in extras]
    for extra in extras:
        extra.rich_help_panel = panel
    return typing.Annotated[(base, *extras)]  # type: ignore[return-value]


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty


def _spread(record: type) -> list[inspect.Parameter]:
    flags = _GROUPS[record]
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f), annotation=flags[f.name])
        for f in dataclasses.fields(record) if f.init
    ]


def command(func: _F) -> _F:
    """``func`` with every option-group parameter spread into its fields' flags (see module)."""
    hints = typing.get_type_hints(func, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for param in inspect.signature(func).parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if annotation in _GROUPS:
            spread = _spread(annotation)
            groups[param.name] = (annotation, [p.name for p in spread])
            parameters.extend(spread)
        else:
            parameters.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    seen: set[str] = set()
    for param in parameters:
        if param.name in seen:
            raise TypeError(f"{func.__name__}: the option '{param.name}' comes from two groups")
        seen.add(param.name)

    @functools.wraps(func)
    def run(**values: Any) -> Any:
        for name, (record, fields) in groups.items():
            values[name] = record(**{field: values.pop(field) for field in fields})
        return func(**values)

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return typing.cast(_F, run)


def own_parameters(func: Callable[..., Any]) -> int:
    """How many parameters the command function itself declares (a group counts once)."""
    return len(inspect.signature(inspect.unwrap(func)).parameters)
