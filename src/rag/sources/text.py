"""Reading a source file as text, with the errors a user can act on.

Scraped pages arrive in whatever encoding the browser or editor saved them in, so:
a byte-order mark decides (UTF-8, UTF-16, UTF-32); a head with a zero byte in every
other place is UTF-16 saved without a BOM; otherwise each line is UTF-8,
and a line that is not valid UTF-8 falls back to cp1252, then latin-1. Deciding per
line keeps a mostly-UTF-8 file with one stray Windows byte readable everywhere else,
and lets large files be streamed in bounded memory.

Every unusable file raises SourceError(path, problem) with one of the problems below.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from ..errors import SourceError

HEAD_BYTES = 8192
# Longest BOM first: the UTF-32-LE mark starts with the UTF-16-LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")  # latin-1 decodes any byte
# Without a BOM, a head is read as UTF-16 when at least this share of its byte pairs
# has a zero high byte (Latin-script text) and at most this share a zero low byte.
UTF16_ZERO_SHARE = 0.6
UTF16_STRAY_SHARE = 0.02
# Text has few control characters besides tab, newline, carriage return and form feed;
# a head with more than this share of them is binary even if it decodes.
MAX_CONTROL_SHARE = 0.05
NO_FILE = "no such file"
IS_DIRECTORY = "is a directory, not a file"
EMPTY = "file is empty"
BINARY = "binary file, not text"


def read_head(path: Path, size: int = HEAD_BYTES) -> str:
    """The first `size` bytes of a text file, decoded; raises SourceError if unusable."""
    raw = _read_bytes(path, size)
    encoding = _encoding(raw)
    if encoding in (None, "utf-8-sig"):
        text = _decode_head(raw.removeprefix(codecs.BOM_UTF8), complete=len(raw) < size)
    else:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(raw)
    if _looks_binary(text):
        raise SourceError(str(path), BINARY)
    if not text.strip() and not _has_text_after(path, size):
        raise SourceError(str(path), EMPTY)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_lines(path: Path) -> Iterator[str]:
    """The file's lines without line endings, streamed; SourceError if it is unusable."""
    read_head(path)  # raises for missing, directory, empty and binary files
    encoding = _encoding(_read_bytes(path, HEAD_BYTES))
    if encoding not in (None, "utf-8-sig"):
        with Path(path).open(encoding=encoding, errors="replace", newline=None) as handle:
            for line in handle:
                yield _checked(path, line.rstrip("\n"))
        return
    with Path(path).open("rb") as handle:
        first = True
        for raw in handle:
            if first:
                raw, first = raw.removeprefix(codecs.BOM_UTF8), False
            raw = raw.removesuffix(b"\n").removesuffix(b"\r")
            for piece in raw.split(b"\r"):  # old Mac line endings
                yield _checked(path, _decode_line(piece))


def iter_numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) pairs, for error messages that point at a line."""
    return enumerate(iter_lines(path), start=1)


def iter_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """Blank-line separated blocks as (first line number, lines joined by spaces)."""
    start, lines = 0, []
    for number, line in iter_numbered_lines(path):
        if line.strip():
            start = start or number
            lines.append(line.strip())
        elif lines:
            yield start, " ".join(lines)
            start, lines = 0, []
    if lines:
        yield start, " ".join(lines)


def read_text(path: Path) -> str:
    """The whole file as one string with '\\n' line endings."""
    return "\n".join(iter_lines(path))


def _read_bytes(path: Path, size: int) -> bytes:
    path = Path(path)
    try:
        if path.is_dir():
            raise SourceError(str(path), IS_DIRECTORY)
        with path.open("rb") as handle:
            return handle.read(size)
    except FileNotFoundError:
        raise SourceError(str(path), NO_FILE) from None
    except IsADirectoryError:
        raise SourceError(str(path), IS_DIRECTORY) from None
    except PermissionError:
        raise SourceError(str(path), "permission denied; check the file's permissions") from None
    except OSError as error:
        raise SourceError(str(path), f"cannot read: {error.strerror or error}") from None


def _bom_encoding(raw: bytes) -> str | None:
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            return encoding
    return None


def _encoding(raw: bytes) -> str | None:
    """The encoding a BOM names, else UTF-16 without BOM if the head looks like it, else None."""
    return _bom_encoding(raw) or _sniff_utf16(raw)


def _sniff_utf16(raw: bytes) -> str | None:
    """UTF-16 saved without a BOM: Latin-script text has a zero byte in every other place.

    >>> _sniff_utf16("Title".encode("utf-16-le")), _sniff_utf16(b"Title")
    ('utf-16-le', None)
    """
    pairs = len(raw) // 2
    if pairs < 2:
        return None
    even, odd = raw[0 : 2 * pairs : 2].count(0), raw[1 : 2 * pairs : 2].count(0)
    if odd >= UTF16_ZERO_SHARE * pairs and even <= UTF16_STRAY_SHARE * pairs:
        return "utf-16-le"
    if even >= UTF16_ZERO_SHARE * pairs and odd <= UTF16_STRAY_SHARE * pairs:
        return "utf-16-be"
    return None  # binary data with zeros stays binary: _looks_binary sees its NULs


def _decode_line(raw: bytes) -> str:
    """One line as UTF-8, else cp1252, else latin-1.

    >>> _decode_line("café".encode("cp1252"))
    'café'
    """
    for encoding in FALLBACK_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _decode_head(raw: bytes, complete: bool) -> str:
    lines = raw.split(b"\n")
    last = lines.pop()
    decoded = [_decode_line(line) for line in lines]
    if complete:
        decoded.append(_decode_line(last))
    else:
        # The head may end inside a multi-byte character: drop the partial character.
        try:
            decoded.append(codecs.getincrementaldecoder("utf-8")().decode(last, final=False))
        except UnicodeDecodeError:
            decoded.append(_decode_line(last))
    return "\n".join(decoded)


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bool(text) and controls / len(text) > MAX_CONTROL_SHARE


def _has_text_after(path: Path, offset: int) -> bool:
    """Whether anything but whitespace follows the head (streamed, bounded memory)."""
    with Path(path).open("rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(1 << 16):
            if chunk.strip(b" \t\r\n\f\v\x00\xff\xfe"):
                return True
    return False


def _checked(path: Path, line: str) -> str:
    if "\x00" in line:
        raise SourceError(str(path), BINARY)
    return line
