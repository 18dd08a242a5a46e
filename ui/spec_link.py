"""A custom network in text: its canonical spec, the compact form a link carries, and per-stage lists.

Streamlit-free, so the link parsing that uses it can be tested directly. A spec the app believes is
always *canonical*: ``export_spec`` of what ``core.load_spec`` made of it, as compact JSON with sorted
keys, so one network has one text, one name (``custom-<digest>``) and one link, however it was typed.

In a link (``spec=`` for the Explorer's network, ``specs=`` for pinned ones, dot-separated) a spec is
that canonical JSON, zlib-compressed, in unpadded base64url: about 600-700 characters for a built-in's
spec. Decoding is bounded before any work grows with it: the text's length and alphabet first, then
inflating with ``max_length`` (a zip bomb stops at ``MAX_SPEC_BYTES`` + 1 bytes), then the engine's
own checks. Every refusal is one line; parsing and encoding are cached by content (bounded).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from functools import lru_cache

from core.network.architecture import Architecture
from core.network.families import register, resolve
from core.network.scaling import STAGE_RANGE
from core.network.spec import MAX_SPEC_BYTES, SpecError, export_spec, load_spec

CUSTOM = "custom"  # the backbone control's value for a network of your own (the link's backbone=custom)
MAX_LINK_CHARS = 8_000  # a whole link: what browsers, chat apps and servers reliably keep (RFC 9110 asks >= 8,000)
MAX_SPEC_LINK_CHARS = MAX_LINK_CHARS  # one encoded spec: refused unread if longer than a whole link may be
MAX_SPEC_TEXT_CHARS = MAX_SPEC_BYTES  # the editor's text area (64 KiB; a built-in's spec is 2-5 KB)
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def canonical(arch: Architecture | str) -> str:
    """The one text of a network's spec: compact JSON, keys sorted."""
    return json.dumps(export_spec(arch), sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=128)
def _load(text: str) -> Architecture:
    return load_spec(text.encode())  # bytes: the engine reads short text as a file path when it looks like one


def network_of(text: str) -> str:
    """The engine's name for a canonical spec (``custom-<digest>``), registered again on every call, so a
    network a page shows is never the one the engine's bounded registry lets go."""
    arch = _load(text)
    register(arch)
    return arch.name


def spec_arch(text: str) -> Architecture:
    """The architecture of a canonical spec (registered, as ``network_of``)."""
    network_of(text)
    return _load(text)


@lru_cache(maxsize=256)
def parse_spec_text(text: str) -> tuple[str | None, str | None]:
    """(canonical spec, None) for a spec someone pasted, uploaded or linked; (None, one line) if it is refused.

    Validated by the engine (``core.load_spec``: schema, bounds, cost) and written back canonically,
    which is validated once more: the text the app keeps always loads as the same network.
    """
    if len(text) > MAX_SPEC_TEXT_CHARS:
        return None, f"spec: the text is {len(text):,} characters; a spec may be at most {MAX_SPEC_TEXT_CHARS:,}"
    try:  # bytes: the engine reads text as a file path when it looks like one, never bytes
        result = canonical(load_spec(text.encode("utf-8", "replace")))
        _load(result)
    except SpecError as error:
        return None, str(error)
    except RecursionError:  # the engine counts nesting before recursing; belt and braces
        return None, "spec: the document nests too deeply"
    return result, None


@lru_cache(maxsize=256)
def encode_spec(text: str) -> str:
    """A canonical spec as a link carries it: zlib, unpadded base64url."""
    return base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


@lru_cache(maxsize=256)
def decode_spec(blob: str) -> tuple[str | None, str | None]:
    """(canonical spec, None) from a link's ``spec=`` value, or (None, one line saying what is wrong).

    Bounded at every step: the value's length and alphabet, the compressed bytes, the inflated size
    (``max_length``: a zip bomb never expands past ``MAX_SPEC_BYTES`` + 1 bytes), then ``parse_spec_text``.
    """
    if len(blob) > MAX_SPEC_LINK_CHARS:
        return None, f"is {len(blob):,} characters; a linked spec may be at most {MAX_SPEC_LINK_CHARS:,}"
    if not blob or not BASE64URL.fullmatch(blob.rstrip("=")):
        return None, "is not base64url text (letters, digits, - and _)"
    try:
        packed = base64.b64decode(blob.rstrip("=") + "=" * (-len(blob.rstrip("=")) % 4), altchars=b"-_",
                                  validate=True)
    except (binascii.Error, ValueError):
        return None, "is not whole base64url text (cut short?)"
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_SPEC_BYTES + 1)
    except zlib.error:
        return None, "is not a compressed spec (cut short or altered?)"
    if len(raw) > MAX_SPEC_BYTES or inflater.unconsumed_tail:
        return None, f"expands past {MAX_SPEC_BYTES:,} bytes; a spec may be at most that"
    if not inflater.eof:
        return None, "is cut short: the compressed spec does not end"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "is not UTF-8 text once expanded"
    return parse_spec_text(text)


def encode_specs(texts: list[str] | tuple[str, ...]) -> str:
    """Several canonical specs in one value (a pin's networks): encoded specs joined by dots."""
    return ".".join(encode_spec(text) for text in texts)


def decode_specs(value: str, limit: int) -> tuple[list[str], list[str]]:
    """The canonical specs in a ``specs=`` value (at most ``limit``), and one line per entry that is refused."""
    blobs = [blob for blob in value.split(".") if blob] if len(value) <= limit * MAX_SPEC_LINK_CHARS else []
    problems = [] if blobs or not value else [f"is {len(value):,} characters; it was not read"]
    if len(blobs) > limit:
        problems.append(f"has {len(blobs):,} specs; only the first {limit} were read")
        blobs = blobs[:limit]
    texts = []
    for index, blob in enumerate(blobs, 1):
        text, problem = decode_spec(blob)
        if text is None:
            problems.append(f"entry {index} {problem}")
        else:
            texts.append(text)
    return texts, problems


def stage_count(network: str) -> int:
    return len(resolve(network)[0].stages)


def format_stages(values: tuple[float, ...], separator: str = ",") -> str:
    """Per-stage multipliers as a link writes them: '1,1,1.5,1'."""
    return separator.join(f"{value:g}" for value in values)


def parse_stages(raw: str, count: int, separator: str = ",") -> tuple[tuple[float, ...] | None, str | None]:
    """(multipliers, None), or (None, why) for a link's per-stage list: one finite number per stage, each in
    ``STAGE_RANGE`` (values outside are clamped, and said so: (multipliers, why))."""
    parts = raw.split(separator)
    if len(raw) > 40 * max(count, 1) or len(parts) != count:
        return None, f"has {len(parts):,} values; this network has {count} stages: give one per stage"
    low, high = STAGE_RANGE
    values, clamped = [], False
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            return None, "holds something that is not a number"
        if not math.isfinite(value):
            return None, "holds something that is not a number"
        values.append(min(max(value, low), high))
        clamped |= values[-1] != value
    return tuple(values), (f"has values outside {low:g} to {high:g}; they were clamped" if clamped else None)

