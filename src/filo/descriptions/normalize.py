"""Validation and normalization of an LLM's reply into a clean list of defect descriptions."""

from __future__ import annotations

import json
import re

# A description is one short phrase; longer text does not fit CLIP's 77-token prompt beside the
# learned context, the category name and the position.
DEFAULT_MAX_CHARS = 64

_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_LEADING_MARKER = re.compile(r"^\s*(?:[-*•·]+|\(?(?:\d+|[a-z])[.):\]](?=\s))\s*", re.IGNORECASE)
_EDGE_PUNCTUATION = " \t\"'`.,;:!?-*•·"
_CAPITALIZED_WORD = re.compile(r"\b([A-Z])([a-z]+)\b")


class InvalidReply(ValueError):
    """An LLM reply that cannot be used as a description list (the message says why)."""


def parse_reply(text: str) -> list:
    """The list of items in an LLM reply: a JSON list, or an object with a 'descriptions' list.

    A surrounding Markdown code fence is tolerated; anything else raises InvalidReply.
    """
    if not text.strip():
        raise InvalidReply("reply is empty")
    fenced = _CODE_FENCE.match(text)
    try:
        document = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as error:
        raise InvalidReply(f"reply is not valid JSON ({error.msg} at position {error.pos})") from None
    if isinstance(document, dict):
        document = document.get("descriptions")
    if not isinstance(document, list):
        raise InvalidReply("reply is neither a JSON list nor an object with a 'descriptions' list")
    return document


def _lowercase_where_safe(phrase: str) -> str:
    """Lowercase capitalized words ("Uneven" -> "uneven") but keep acronyms and mixed case ("PCB", "pH")."""
    return _CAPITALIZED_WORD.sub(lambda match: match.group(1).lower() + match.group(2), phrase)


def normalize_item(item: object, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """One cleaned description, or None if the item is unusable (not text, empty, too long, multi-phrase)."""
    if not isinstance(item, str):
        return None
    phrase = " ".join(_LEADING_MARKER.sub("", item, count=1).split()).strip(_EDGE_PUNCTUATION)
    phrase = _lowercase_where_safe(phrase)
    # Grounding DINO separates caption phrases with " . ", so a period inside would split this one.
    if not phrase or len(phrase) > max_chars or "." in phrase:
        return None
    return phrase


def normalize_descriptions(
    items: list, *, max_items: int, max_chars: int = DEFAULT_MAX_CHARS
) -> tuple[str, ...]:
    """Clean, dedupe (case-insensitively, first wins) and cap a reply's items; InvalidReply if none left."""
    cleaned: list[str] = []
    seen: set[str] = set()
    for item in items:
        phrase = normalize_item(item, max_chars)
        if phrase is not None and phrase.lower() not in seen:
            seen.add(phrase.lower())
            cleaned.append(phrase)
    if not cleaned:
        raise InvalidReply(f"none of the {len(items)} items is a usable description")
    return tuple(cleaned[:max_items])
