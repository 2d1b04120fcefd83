"""``promptopt cache stats|clear``: look into or empty the response cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt.cli.app import cache_app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.options import CacheFile, Json


@cache_app.command("stats")
@command
def cache_stats(cache_path: CacheFile = None, as_json: Json = False) -> None:
    """Entries, size and models in the response cache (a path with no cache yet is not created)."""
    from promptopt.llm.cache import ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    if not path.exists():
        data: dict[str, Any] = {"path": str(path), "entries": 0, "size_bytes": 0, "per_model": {}}
        if as_json:
            emit_json({**data, "exists": False})
        else:
            typer.echo(f"cache: {path} (no cache file yet: 0 entries)")
        return
    with ResponseCache(path) as cache:
        stats = cache.stats()
    data = {
        "path": str(stats.path),
        "entries": stats.entries,
        "size_bytes": stats.size_bytes,
        "per_model": dict(stats.per_model),
    }
    if as_json:
        emit_json(data)
        return
    typer.echo(f"cache: {data['path']}")
    typer.echo(f"entries: {stats.entries}  size: {stats.size_bytes / 1e6:.2f} MB")
    for name, count in sorted(stats.per_model.items()):
        typer.echo(f"  {name}: {count}")


@cache_app.command("clear")
@command
def cache_clear(
    cache_path: CacheFile = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only entries of this model identity (see 'cache stats').")] = None,
    as_json: Json = False,
) -> None:
    """Delete cached responses (all, or one model's). A corrupt cache file is recreated."""
    from promptopt.llm.cache import CorruptCacheError, ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    try:
        with ResponseCache(path) as cache:
            removed: int | str = cache.clear(model)
    except CorruptCacheError:  # only a damaged cache is recreated; a locked or foreign file is kept
        if model is not None or not Path(path).exists():
            raise
        ResponseCache.reset_file(path)
        removed = "all (the file was unreadable and has been recreated)"
    if as_json:
        emit_json({"path": str(path), "removed": removed})
    else:
        typer.echo(f"removed {removed} entries from {path}")
