"""Asking an OpenAI-compatible chat endpoint for a category's defect descriptions.

The API key comes only from the OPENAI_API_KEY environment variable and is never put in a
message, a log line or a file. Transient failures (timeouts, connection errors, HTTP 408/409/429/5xx)
are retried with exponential backoff and jitter within an attempt count and a total time budget;
replies that fail validation are retried too and kept for inspection; HTTP 401/403 fail at once.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from filo.descriptions.normalize import DEFAULT_MAX_CHARS, InvalidReply, normalize_descriptions, parse_reply
from filo.descriptions.template import PromptTemplate
from filo.errors import FiloError
from filo.vocabulary import prompt_category_name

logger = logging.getLogger(__name__)

API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_MAX_BACKOFF_S = 60.0
_TRANSIENT_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class LLMSettings:
    """Everything that configures LLM generation except the key (read from the environment)."""

    model: str
    base_url: str = DEFAULT_BASE_URL
    template_version: str = "v1"
    temperature: float = 0.0
    max_descriptions: int = 10
    max_chars: int = DEFAULT_MAX_CHARS
    json_mode: bool = True
    request_timeout_s: float = 60.0
    max_attempts: int = 5
    retry_budget_s: float = 300.0
    backoff_base_s: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "model": bool(self.model and self.model.strip()),
            "base_url": urlsplit(self.base_url).scheme in ("http", "https")
            and bool(urlsplit(self.base_url).hostname),
            "temperature": 0.0 <= self.temperature <= 2.0,
            "max_descriptions": self.max_descriptions >= 1,
            "max_chars": self.max_chars >= 8,
            "request_timeout_s": self.request_timeout_s > 0,
            "max_attempts": self.max_attempts >= 1,
            "retry_budget_s": self.retry_budget_s > 0,
            "backoff_base_s": self.backoff_base_s >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise FiloError(
                    f"LLM setting {name}={getattr(self, name)!r} is invalid; see `filo describe --help`"
                )


def endpoint_kind(base_url: str) -> str:
    """A stable, secret-free name of the endpoint for cache keys: "openai" or "compatible:<host>"."""
    host = (urlsplit(base_url).hostname or "").lower()
    return "openai" if host == "api.openai.com" else f"compatible:{host}"


def display_endpoint(base_url: str) -> str:
    """`base_url` without any user:password part, for messages."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def cache_fields(settings: LLMSettings, template: PromptTemplate, category: str) -> dict[str, object]:
    """Everything that determines the generated descriptions of `category`: the cache key's content."""
    return {
        "model": settings.model,
        "endpoint_kind": endpoint_kind(settings.base_url),
        "template_version": template.version,
        "template_sha256": template.sha256,
        "category": category,
        "temperature": settings.temperature,
        "max_descriptions": settings.max_descriptions,
        "max_chars": settings.max_chars,
        "json_mode": settings.json_mode,
    }


def _redact(text: str) -> str:
    """`text` with the API key (if any) replaced, for messages built from server responses."""
    key = os.environ.get(API_KEY_ENV)
    return text.replace(key, "***") if key else text


def _retry_after_s(error: Exception) -> float:
    """The server's Retry-After hint in seconds, or 0 when it gave none."""
    response = getattr(error, "response", None)
    try:
        return float(response.headers.get("retry-after", 0)) if response is not None else 0.0
    except ValueError:
        return 0.0


class DescriptionGenerator:
    """Generates one category's descriptions through the chat completions API."""

    def __init__(self, settings: LLMSettings, template: PromptTemplate) -> None:
        self.settings = settings
        self.template = template
        self._client = None

    def _chat_client(self):
        """The openai client, created on first use (so cached runs need no key)."""
        if self._client is None:
            import openai  # kept lazy: CLI start-up; only the LLM source needs it

            api_key = os.environ.get(API_KEY_ENV)
            if not api_key:
                raise FiloError(
                    f"LLM model {self.settings.model!r} is configured but {API_KEY_ENV} is not set; "
                    "export it (any non-empty value for local servers without authentication) "
                    "or drop the LLM source"
                )
            self._client = openai.OpenAI(
                api_key=api_key,
                base_url=self.settings.base_url,
                timeout=self.settings.request_timeout_s,
                max_retries=0,
            )
        return self._client

    def _complete(self, category: str) -> str:
        """One chat completion request; returns the reply text ("" when the reply carries none)."""
        request = {
            "model": self.settings.model,
            "messages": self.template.messages(
                prompt_category_name(category), self.settings.max_descriptions
            ),
            "temperature": self.settings.temperature,
        }
        if self.settings.json_mode:
            request["response_format"] = {"type": "json_object"}
        response = self._chat_client().chat.completions.create(**request)
        choices = getattr(response, "choices", None) or []
        content = choices[0].message.content if choices else None
        return content if isinstance(content, str) else ""

    def _refusal(self, error: Exception, category: str) -> FiloError:
        """The error to raise for a non-retryable HTTP status."""
        import openai  # kept lazy: CLI start-up; only the LLM source needs it

        endpoint = display_endpoint(self.settings.base_url)
        if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return FiloError(
                f"{endpoint} refused the request for category {category!r} (HTTP {error.status_code}); "
                f"check that {API_KEY_ENV} holds a valid key with access to model {self.settings.model!r}"
            )
        body = _redact(str(getattr(error, "body", "") or ""))[:300]
        return FiloError(
            f"{endpoint} rejected the request for category {category!r} (HTTP {error.status_code}: {body}); "
            f"check the model name {self.settings.model!r} and the base URL"
        )

    def _backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number `attempt` (1-based)."""
        exponential = min(self.settings.backoff_base_s * 2 ** (attempt - 1), _MAX_BACKOFF_S)
        return exponential * random.uniform(0.5, 1.0)

    def generate(self, category: str, save_rejected: Callable[[int, str], Path]) -> tuple[str, ...]:
        """Validated, normalized descriptions of raw `category`; FiloError once the retry budget is spent.

        Total time is bounded by `retry_budget_s` plus at most one request timeout.

        `save_rejected(attempt, raw_text)` stores a reply that failed validation and returns its path.
        """
        import openai  # kept lazy: CLI start-up; only the LLM source needs it

        settings = self.settings
        deadline = time.monotonic() + settings.retry_budget_s
        problem, rejected_dir = "", None
        for attempt in range(1, settings.max_attempts + 1):
            try:
                text = self._complete(category)
            except openai.APIStatusError as error:
                if error.status_code not in _TRANSIENT_STATUS and error.status_code < 500:
                    raise self._refusal(error, category) from None
                problem = f"HTTP {error.status_code}"
                delay = min(max(_retry_after_s(error), self._backoff_s(attempt)), _MAX_BACKOFF_S)
            except openai.APIConnectionError as error:  # includes APITimeoutError
                problem = (
                    "request timed out" if isinstance(error, openai.APITimeoutError) else "connection failed"
                )
                delay = self._backoff_s(attempt)
            else:
                try:
                    return normalize_descriptions(
                        parse_reply(text), max_items=settings.max_descriptions, max_chars=settings.max_chars
                    )
                except InvalidReply as invalid:
                    problem = f"invalid reply: {invalid}"
                    rejected_dir = save_rejected(attempt, text).parent
                    delay = 0.0
            if attempt == settings.max_attempts or time.monotonic() + delay > deadline:
                break
            logger.warning(
                "category %r attempt %d failed (%s); retrying in %.1fs", category, attempt, problem, delay
            )
            time.sleep(delay)
        saved = f"; rejected replies are in {rejected_dir}" if rejected_dir else ""
        raise FiloError(
            f"no usable descriptions for category {category!r} from model {settings.model!r} at "
            f"{display_endpoint(settings.base_url)} after {attempt} attempt(s), "
            f"last problem: {problem}{saved}; "
            "retry later, raise the retry budget, or give the category's descriptions in a user file"
        )
