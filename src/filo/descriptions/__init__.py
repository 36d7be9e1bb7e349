"""Fine-grained defect descriptions per category: shipped defaults, user files, an LLM and its cache, and
filo's generic defect states for any category nobody described (source 'generic')."""

from filo.descriptions.artifact import CategoryDescriptions, load_descriptions, write_descriptions
from filo.descriptions.llm import LLMSettings
from filo.descriptions.resolve import DEFAULT_SOURCE_ORDER, resolve_descriptions

__all__ = [
    "DEFAULT_SOURCE_ORDER",
    "CategoryDescriptions",
    "LLMSettings",
    "load_descriptions",
    "resolve_descriptions",
    "write_descriptions",
]
