"""Thresholds, best-box fallback, phrase matching and position on hand-made model outputs."""

import numpy as np
import pytest

from filo.boxes.rules import (
    BoxRules,
    build_caption,
    decide_image,
    phrase_matches,
    select_queries,
    truncated_logit,
)

TOKENS = ["[CLS]", "anomaly", ".", "scratch", ".", "hole", ".", "[SEP]"]
WORDS = ("scratch", "hole", "anomaly", "damage", "broken", "defect", "contamination")


def decode(posmap: np.ndarray) -> str:
    """Phrase decoder over TOKENS (what the tokenizer-based decoder does: join the selected tokens)."""
    return " ".join(token for token, on in zip(TOKENS, posmap) if on)


def probs_for(*rows: dict) -> np.ndarray:
    """(queries, tokens) probabilities with the given {token index: probability} per query."""
    probs = np.full((len(rows), len(TOKENS)), 0.01, dtype=np.float32)
    for query, row in enumerate(rows):
        for token, value in row.items():
            probs[query, token] = value
    return probs


def test_caption_joins_general_words_and_descriptions():
    assert build_caption(["Scratch", "colour stain "]) == (
        "anomaly . damage . broken . defect . contamination . scratch . colour stain."
    )
    assert build_caption([]) == "anomaly . damage . broken . defect . contamination."


def test_select_queries_uses_strict_thresholds():
    probs = probs_for({3: 0.25}, {3: 0.26}, {3: 0.9}, {3: 0.9}, {3: 0.5})
    boxes = np.array(
        [[0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 1.0, 0.7], [0.5, 0.5, 0.8, 0.5], [0.5, 0.5, 0.5, 0.5]],
        dtype=np.float32,
    )
    # 0.25 is not > 0.25; area 0.7 is not < 0.7; 0.8 * 0.5 = 0.4 passes
    assert select_queries(probs, boxes, 0.25, 0.7).tolist() == [1, 3, 4]


def test_select_queries_falls_back_to_the_single_best_box():
    probs = probs_for({3: 0.2}, {5: 0.24}, {3: 0.24}, {1: 0.1})
    boxes = np.array([[0.5, 0.5, 0.1, 0.1]] * 3 + [[0.5, 0.5, 0.9, 0.9]], dtype=np.float32)
    assert select_queries(probs, boxes, 0.25, 0.7).tolist() == [1]  # first of the tied maxima
    big = np.array([[0.5, 0.5, 0.95, 0.95]] * 4, dtype=np.float32)
    assert select_queries(probs_for({3: 0.9}, {3: 0.3}, {3: 0.1}, {3: 0.1}), big, 0.25, 0.7).tolist() == [0]


def test_truncated_logit_is_the_first_four_characters():
    assert truncated_logit(0.4567) == 0.45
    assert truncated_logit(0.459999) == 0.45
    assert truncated_logit(1.0) == 1.0
    assert truncated_logit(np.float32(0.35)) == 0.34  # float32 0.35 prints as 0.3499999940395355
    assert truncated_logit(5e-05) == 4.99  # str() gives "4.999999873689376e-05": the reference code's quirk


def test_phrase_matching_is_a_substring_test():
    assert phrase_matches("deep scratch", 0.5, WORDS)
    assert phrase_matches("holes", 0.5, WORDS)
    assert not phrase_matches("surface", 0.5, WORDS)
    assert not phrase_matches("color", 0.5, ["color stain"])
    assert phrase_matches("color stain", 0.5, ["color stain"])


def test_authors_phrase_matching_is_case_sensitive_but_sane_is_not():
    assert not phrase_matches("scratch", 0.5, ["Scratch"])
    assert phrase_matches("scratch", 0.5, ["Scratch"], rule="sane")


def test_authors_phrase_matching_sees_the_logit_label():
    # the reference code tests the phrase with "(0.45)" appended
    assert phrase_matches("", 0.45, ["(0.4"])
    assert not phrase_matches("", 0.45, ["(0.4"], rule="sane")


def test_decoder_sees_tokens_above_the_text_threshold():
    seen = []

    def recording_decoder(posmap):
        seen.append(posmap.copy())
        return decode(posmap)

    probs = probs_for({1: 0.3, 3: 0.6, 5: 0.25})
    decision = decide_image(probs, np.array([[0.5, 0.5, 0.1, 0.1]]), recording_decoder, WORDS, BoxRules())
    assert seen[0].tolist() == [False, True, False, True, False, False, False, False]
    assert decision.kept[0].phrase == "anomaly scratch"
    assert decision.kept[0].matched
    assert decision.kept[0].logit == pytest.approx(0.6)
    assert decision.kept[0].xyxy == pytest.approx((0.45, 0.45, 0.55, 0.55))


def test_position_ties_after_truncation_go_to_the_later_box():
    probs = probs_for({3: 0.459}, {5: 0.451}, {6: 0.9})  # third box: phrase "." does not match
    boxes = np.array([[0.1, 0.1, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1], [0.5, 0.9, 0.1, 0.1]], dtype=np.float32)
    decision = decide_image(probs, boxes, decode, WORDS, BoxRules())
    assert [box.matched for box in decision.kept] == [True, True, False]
    assert decision.n_raw_boxes == 3
    assert decision.position == "bottom right"
    assert decide_image(probs, boxes, decode, WORDS, BoxRules(rule="sane")).position == "top left"


def test_higher_truncated_logit_wins_regardless_of_order():
    probs = probs_for({3: 0.47}, {5: 0.459})
    boxes = np.array([[0.1, 0.1, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]], dtype=np.float32)
    assert decide_image(probs, boxes, decode, WORDS, BoxRules()).position == "top left"


def test_no_matched_box_gives_the_default_centre():
    probs = probs_for({6: 0.9}, {2: 0.8})
    boxes = np.array([[0.1, 0.1, 0.1, 0.1], [0.9, 0.1, 0.1, 0.1]], dtype=np.float32)
    decision = decide_image(probs, boxes, decode, WORDS, BoxRules())
    assert len(decision.kept) == 2 and not any(box.matched for box in decision.kept)
    assert decision.position == "center"
    assert decide_image(probs, boxes, decode, WORDS, BoxRules(rule="sane")).position == "center"


def test_centre_between_cells_gives_no_position():
    probs = probs_for({3: 0.9})
    boxes = np.array([[0.333, 0.5, 0.1, 0.1]], dtype=np.float32)  # centre x = 172.49 px on the 518 grid
    assert decide_image(probs, boxes, decode, WORDS, BoxRules()).position is None
    assert decide_image(probs, boxes, decode, WORDS, BoxRules(rule="sane")).position == "left"


def test_position_uses_the_image_size_grid():
    probs = probs_for({3: 0.9})
    boxes = np.array([[0.5, 0.9, 0.1, 0.1]], dtype=np.float32)
    assert decide_image(probs, boxes, decode, WORDS, BoxRules(image_size=224)).position == "bottom"


def test_fallback_box_is_kept_and_can_match():
    probs = probs_for({3: 0.1}, {5: 0.2})
    boxes = np.array([[0.1, 0.1, 0.1, 0.1], [0.9, 0.5, 0.1, 0.1]], dtype=np.float32)
    decision = decide_image(probs, boxes, decode, WORDS, BoxRules(text_threshold=0.15))
    assert [box.query_index for box in decision.kept] == [1]
    assert decision.kept[0].phrase == "hole" and decision.position == "right"


def test_rules_validate_their_values():
    with pytest.raises(ValueError, match="box_threshold"):
        BoxRules(box_threshold=1.5)
    with pytest.raises(ValueError, match="unknown box rule"):
        BoxRules(rule="other")
