"""Versioned prompt templates for asking an LLM for a category's fine-grained defects."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources

import yaml

from filo.errors import FiloError

_TEMPLATE_FILE = "defect_descriptions_{version}.yaml"


@dataclass(frozen=True)
class PromptTemplate:
    """A system + user message pair with `$category` and `$max_descriptions` placeholders."""

    version: str
    system: str
    user: str
    sha256: str

    def messages(self, category: str, max_descriptions: int) -> list[dict[str, str]]:
        """The chat messages asking about `category` (a prompt name such as "metal nut")."""
        values = {"category": category, "max_descriptions": max_descriptions}
        return [
            {"role": "system", "content": string.Template(self.system).substitute(values).strip()},
            {"role": "user", "content": string.Template(self.user).substitute(values).strip()},
        ]


def available_template_versions() -> list[str]:
    """Versions of the templates shipped with filo, e.g. ["v1"]."""
    prefix, suffix = _TEMPLATE_FILE.split("{version}")
    names = [entry.name for entry in (resources.files("filo.descriptions") / "templates").iterdir()]
    return sorted(
        name[len(prefix) : -len(suffix)]
        for name in names
        if name.startswith(prefix) and name.endswith(suffix)
    )


def load_template(version: str) -> PromptTemplate:
    """The shipped template of `version`; FiloError listing the available versions if there is none."""
    if version not in available_template_versions():
        raise FiloError(
            f"prompt template version {version!r} does not exist; available: {available_template_versions()}"
        )
    resource = resources.files("filo.descriptions") / "templates" / _TEMPLATE_FILE.format(version=version)
    text = resource.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    return PromptTemplate(
        version=document["version"],
        system=document["system"],
        user=document["user"],
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
