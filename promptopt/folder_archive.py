"""A folder as bytes and back: how a bench cell travels between the driver and a worker that does
not share its storage (``--ship-results``).

The archive is a gzip'ed tar of regular files and folders only (no links, devices or lock files);
unpacking refuses any member that would land outside the target folder, and replaces the folder
in one rename, so a folder is never left half-written.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from promptopt.dirlock import LOCK_NAME
from promptopt.errors import PromptoptError

__all__ = ["pack_folder", "unpack_folder"]


def pack_folder(folder: Path) -> bytes:
    """``folder``'s files (its lock files left out) as a tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            if path.name == LOCK_NAME or not (path.is_file() or path.is_dir()) or path.is_symlink():
                continue
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack_folder(data: bytes, folder: Path) -> None:
    """Replace ``folder`` with the archive's contents."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                target = (staging / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(staging.resolve()):
                    raise PromptoptError(f"a shipped folder for {folder} holds '{member.name}', which is not a "
                                         "plain file inside it; nothing was unpacked")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                with source, open(target, "wb") as handle:
                    shutil.copyfileobj(source, handle)
        old = folder.with_name(f".{folder.name}-old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
