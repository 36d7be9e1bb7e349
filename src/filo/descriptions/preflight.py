"""Preflight check of the describe stage's inputs: when the source order asks an LLM, can it answer?

`describe` takes each category's descriptions from the first source in `describe.sources`
that has some. It passes over a source that has nothing (an LLM that is not configured,
a category absent from the user file), but not over one that fails: a configured LLM
without its API key, or whose endpoint does not answer, stops the stage at the first
category that no earlier source describes. Both are therefore blocking findings, unless
`generic` (which describes every category) comes before `llm`, so the LLM is never asked.
Nothing is checked when no LLM takes part (none configured, or `llm` not in the order).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from filo.errors import FiloError

if TYPE_CHECKING:  # the doctor passes the context in: the stages of this package never import the preflight
    from filo.preflight import CheckContext


def check_llm(context: CheckContext) -> None:
    """Findings for the API key and the endpoint of the LLM in the describe source order (params `describe`)."""
    from filo.descriptions.llm import API_KEY_ENV, display_endpoint
    from filo.descriptions.resolve import validate_source_order
    from filo.descriptions.stage import DescribeSettings

    try:
        settings = context.load(DescribeSettings)
        order = validate_source_order(settings.sources)
    except FiloError as error:
        context.add("describe LLM", False, str(error), fix="fix the describe: section")
        return
    llm = settings.llm
    if llm is None or "llm" not in order:
        return
    before = order[:order.index("llm")]
    blocking = "generic" not in before
    after = [source for source in order if source != "llm"]
    drop = f"or remove 'llm' from describe.sources (then: {', '.join(after)})"
    endpoint = display_endpoint(llm.base_url)
    key = os.environ.get(API_KEY_ENV)
    stops = (f"describe asks it for each category no source before it ({', '.join(before) or 'none'}) describes, "
             "and stops on its error" if blocking else "generic comes first in describe.sources, so it is never asked")
    if key:
        context.add("describe LLM key", True, f"{API_KEY_ENV} is set for model {llm.model!r}")
    else:
        context.add("describe LLM key", False,
                    f"describe.llm.model {llm.model!r} is in the source order but {API_KEY_ENV} is not set: {stops}",
                    fix=f"export {API_KEY_ENV}=<key> (any non-empty value for a local server without "
                        f"authentication) {drop}", blocking=blocking)
    status, detail = context.ask(llm.base_url.rstrip("/") + "/models",
                                 {"Authorization": f"Bearer {key}"} if key else None)
    if status is None:
        context.add("describe LLM endpoint", False, f"{endpoint} does not answer ({detail}): {stops}",
                    fix=f"start the server or correct describe.llm.base_url, {drop}", blocking=blocking)
    elif key and status in (401, 403):
        context.add("describe LLM endpoint", False, f"{endpoint} refuses the key in {API_KEY_ENV} ({detail})",
                    fix=f"set {API_KEY_ENV} to a valid key with access to model {llm.model!r}, {drop}",
                    blocking=blocking)
    else:
        answer = "answers" if status < 400 else f"answers ({detail}: the server is up)"
        context.add("describe LLM endpoint", True, f"{endpoint} {answer} for model {llm.model!r}")
