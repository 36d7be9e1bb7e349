"""Prompt texts and their order must match the authors' code word for word."""

from __future__ import annotations

import pytest

from filo.model.prompts import (
    abnormal_prompt_row,
    abnormal_prompt_texts,
    abnormal_states,
    context_prefix,
    normal_prompt_texts,
)
from filo.vocabulary import POSITIONS


def test_normal_prompts_are_placeholders_then_state() -> None:
    assert normal_prompt_texts("metal_nut", 3) == [
        "X X X metal nut.",
        "X X X flawless metal nut.",
        "X X X perfect metal nut.",
        "X X X unblemished metal nut.",
        "X X X metal nut without flaw.",
        "X X X metal nut without defect.",
        "X X X metal nut without damage.",
    ]


def test_abnormal_states_put_descriptions_before_generic_ones() -> None:
    assert abnormal_states("pcb2", ["solder bridges", "bowing of the board"]) == [
        "abnormal pcb with solder bridges",
        "abnormal pcb with bowing of the board",
        "damaged pcb",
        "broken pcb",
        "pcb with flaw",
        "pcb with defect",
        "pcb with damage",
    ]


def test_abnormal_prompts_are_state_major_position_minor() -> None:
    texts = abnormal_prompt_texts("pcb2", ["solder bridges"], 2)
    assert len(texts) == (1 + 5) * len(POSITIONS)
    assert texts[0] == "X X abnormal pcb with solder bridges at top left."
    assert texts[8] == "X X abnormal pcb with solder bridges at bottom right."
    assert texts[abnormal_prompt_row(1, "center")] == "X X damaged pcb at center."
    assert texts[-1] == "X X pcb with damage at bottom right."
    for state_index, state in enumerate(abnormal_states("pcb2", ["solder bridges"])):
        for position in POSITIONS:
            assert texts[abnormal_prompt_row(state_index, position)] == f"X X {state} at {position}."


def test_abnormal_prompt_row_formula() -> None:
    assert abnormal_prompt_row(0, "top left") == 0
    assert abnormal_prompt_row(2, "bottom") == 2 * 9 + 7
    assert abnormal_prompt_row(3, "center") == 31


def test_descriptions_are_inserted_literally() -> None:
    # The authors' str.format chain would crash on braces; we keep the text as written.
    texts = abnormal_prompt_texts("tile", ["stain {shaped} like 100%"], 1)
    assert texts[0] == "X abnormal tile with stain {shaped} like 100% at top left."


def test_without_descriptions_only_generic_states_remain() -> None:
    assert len(abnormal_prompt_texts("wood", [], 12)) == 5 * 9


def test_unknown_position_is_rejected_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'middle'.*top left"):
        abnormal_prompt_row(0, "middle")


def test_context_prefix_needs_at_least_one_vector() -> None:
    assert context_prefix(4) == "X X X X"
    with pytest.raises(ValueError, match="n_ctx"):
        context_prefix(0)
