"""FiLoText on the tiny random CLIP: exact encoder path, exact shortcuts, caching and gradients."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import filo.model.text as text_module
from filo.errors import FiloError
from filo.model.clip_backbone import TINY_CLIP_NAME, ClipBundle, create_clip
from filo.model.prompts import CONTEXT_PLACEHOLDER, abnormal_prompt_texts, normal_prompt_texts
from filo.model.text import FiLoText, encode_token_embeddings

CATEGORY = "pcb3"
DESCRIPTIONS = ("oxidation on the copper traces", "bowing of the board", "missing vias")
MIXED_POSITIONS = ["top left", None, "center"]
N_CTX = 4


@pytest.fixture(scope="module")
def clip() -> ClipBundle:
    return create_clip(TINY_CLIP_NAME, None, 64)


@pytest.fixture
def text(clip: ClipBundle) -> FiLoText:
    torch.manual_seed(0)
    model = FiLoText(clip, N_CTX)
    model.prepare(CATEGORY, DESCRIPTIONS)
    return model


@pytest.fixture
def image_features() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return F.normalize(torch.randn(3, 48, generator=generator), dim=-1)


def _mean_direction(features: torch.Tensor) -> torch.Tensor:
    return F.normalize(F.normalize(features, dim=-1).mean(dim=0), dim=-1)


def _set_context_to_placeholder_tokens(model: FiLoText, clip: ClipBundle) -> None:
    """Make every learned context vector the embedding of "X" (meta-net output 0): prompts become plain text."""
    placeholder_id = clip.tokenizer([CONTEXT_PLACEHOLDER])[0, 1]
    placeholder = clip.model.token_embedding.weight[placeholder_id].detach()
    with torch.no_grad():
        for learner in (model.normal_prompt_learner, model.abnormal_prompt_learner):
            learner.ctx.copy_(placeholder.expand_as(learner.ctx))
            learner.meta_net.linear2.weight.zero_()
            learner.meta_net.linear2.bias.zero_()


def test_encoder_matches_open_clip_encode_text_full_and_truncated(clip: ClipBundle) -> None:
    texts = ["a photo of a metal nut.", "X X X abnormal pcb with bowing of the board at top left.", "wood"]
    tokens = clip.tokenizer(texts)
    eot_index = tokens.argmax(dim=-1)
    with torch.no_grad():
        expected = clip.model.encode_text(tokens)
        embeddings = clip.model.token_embedding(tokens)
        full = encode_token_embeddings(clip.model, embeddings, eot_index)
        length = int(eot_index.max()) + 1
        truncated = encode_token_embeddings(clip.model, embeddings[:, :length], eot_index)
    assert length < tokens.shape[1]
    assert (full - expected).abs().max() <= 1e-5
    assert (truncated - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("optimized", [True, False])
def test_placeholder_context_reproduces_encode_text_of_the_prompt_texts(
    text: FiLoText, clip: ClipBundle, image_features: torch.Tensor, optimized: bool
) -> None:
    _set_context_to_placeholder_tokens(text, clip)
    normal_texts = normal_prompt_texts(CATEGORY, N_CTX)
    abnormal_texts = abnormal_prompt_texts(CATEGORY, DESCRIPTIONS, N_CTX)
    with torch.no_grad():
        normal_plain = clip.model.encode_text(clip.tokenizer(normal_texts))
        abnormal_plain = clip.model.encode_text(clip.tokenizer(abnormal_texts))
        f_n, f_a = text(image_features, CATEGORY, MIXED_POSITIONS, optimized=optimized)
        descriptions = text.description_features(image_features, CATEGORY, MIXED_POSITIONS, optimized=optimized)

    center = [i for i, t in enumerate(abnormal_texts) if t.endswith(" at center.")]
    top_left = [i for i, t in enumerate(abnormal_texts) if t.endswith(" at top left.")]
    expected_f_a = torch.stack(
        [_mean_direction(abnormal_plain[top_left]), _mean_direction(abnormal_plain), _mean_direction(abnormal_plain[center])]
    )
    assert (f_n - _mean_direction(normal_plain)).abs().max() <= 1e-5
    assert (f_a - expected_f_a).abs().max() <= 1e-5
    # description k at "center" is the single prompt "... abnormal pcb with <k> at center."
    assert (descriptions[2] - F.normalize(abnormal_plain[center[: len(DESCRIPTIONS)]], dim=-1)).abs().max() <= 1e-5
    every_position_of_first = _mean_direction(abnormal_plain[:9])
    assert (descriptions[1, 0] - every_position_of_first).abs().max() <= 1e-5


@pytest.mark.parametrize(
    "positions", [None, ["bottom right", "top", "left"], MIXED_POSITIONS], ids=["all", "specific", "mixed"]
)
def test_optimized_equals_naive(text: FiLoText, image_features: torch.Tensor, positions) -> None:
    with torch.no_grad():
        fast = text(image_features, CATEGORY, positions, optimized=True)
        slow = text(image_features, CATEGORY, positions, optimized=False)
        fast_descriptions = text.description_features(image_features, CATEGORY, positions, optimized=True)
        slow_descriptions = text.description_features(image_features, CATEGORY, positions, optimized=False)
    for fast_part, slow_part in zip(fast, slow):
        assert fast_part.shape == (3, 48)
        assert (fast_part - slow_part).abs().max() <= 1e-6
        assert torch.allclose(fast_part.norm(dim=-1), torch.ones(3))
    assert fast_descriptions.shape == (3, len(DESCRIPTIONS), 48)
    assert (fast_descriptions - slow_descriptions).abs().max() <= 1e-6


def test_optimized_path_encodes_only_averaged_prompts_up_to_the_longest_eot(
    text: FiLoText, image_features: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes: list[tuple[int, int]] = []
    original = text_module.encode_token_embeddings

    def recording(clip_model, embeddings, eot_index):
        shapes.append(tuple(embeddings.shape[:2]))
        return original(clip_model, embeddings, eot_index)

    monkeypatch.setattr(text_module, "encode_token_embeddings", recording)
    prompts = text.prompts(CATEGORY)
    n_states = len(DESCRIPTIONS) + 5
    with torch.no_grad():
        text(image_features, CATEGORY, MIXED_POSITIONS, optimized=True)
        text(image_features, CATEGORY, MIXED_POSITIONS, optimized=False)
    normal_fast, abnormal_fast, normal_slow, abnormal_slow = shapes
    assert normal_fast == (3 * 7, int(prompts.normal.eot_index.max()) + 1)
    assert abnormal_fast == (n_states + 9 * n_states + n_states, int(prompts.abnormal.eot_index.max()) + 1)
    assert normal_slow == (3 * 7, 77)
    assert abnormal_slow == (3 * 9 * n_states, 77)


def test_each_image_is_conditioned_on_its_own_feature(text: FiLoText, image_features: torch.Tensor) -> None:
    with torch.no_grad():
        f_n, f_a = text(image_features, CATEGORY, MIXED_POSITIONS)
        for i, position in enumerate(MIXED_POSITIONS):
            alone_n, alone_a = text(image_features[i : i + 1], CATEGORY, [position])
            assert (alone_n[0] - f_n[i]).abs().max() <= 1e-6
            assert (alone_a[0] - f_a[i]).abs().max() <= 1e-6
        same_image = image_features[:1].expand(2, -1)
        _, by_position = text(same_image, CATEGORY, ["top left", "bottom right"])
    assert (f_n[0] - f_n[1]).abs().max() > 1e-4
    assert (by_position[0] - by_position[1]).abs().max() > 1e-4


class _CountingTokenizer:
    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        return self.tokenizer(texts)


def test_tokenization_happens_once_per_category_and_description_set(
    clip: ClipBundle, image_features: torch.Tensor
) -> None:
    tokenizer = _CountingTokenizer(clip.tokenizer)
    model = FiLoText(dataclasses.replace(clip, tokenizer=tokenizer), N_CTX)
    first = model.prepare(CATEGORY, DESCRIPTIONS)
    assert model.prepare(CATEGORY, list(DESCRIPTIONS)) is first
    with torch.no_grad():
        for optimized in (True, False):
            model(image_features, CATEGORY, MIXED_POSITIONS, optimized=optimized)
            model.description_features(image_features, CATEGORY, optimized=optimized)
    assert tokenizer.calls == 1

    replaced = model.prepare(CATEGORY, DESCRIPTIONS[:1])
    assert tokenizer.calls == 2
    assert len(replaced.abnormal) == (1 + 5) * 9
    assert model.prompts(CATEGORY) is replaced
    with torch.no_grad():
        assert model.description_features(image_features, CATEGORY).shape == (3, 1, 48)


def test_cached_prompt_embeddings_split_around_the_context_slots(text: FiLoText, clip: ClipBundle) -> None:
    prompts = text.prompts(CATEGORY)
    tokens = clip.tokenizer(list(prompts.abnormal.texts))
    with torch.no_grad():
        embeddings = clip.model.token_embedding(tokens)
    assert torch.equal(prompts.abnormal.tokens, tokens)
    assert torch.equal(prompts.abnormal.prefix, embeddings[:, :1])
    assert torch.equal(prompts.abnormal.suffix, embeddings[:, 1 + N_CTX :])
    assert torch.equal(prompts.abnormal.eot_index, tokens.argmax(dim=-1))
    assert not prompts.abnormal.prefix.requires_grad and not prompts.abnormal.suffix.requires_grad
    assert prompts.abnormal_rows("top").tolist() == [s * 9 + 1 for s in range(len(DESCRIPTIONS) + 5)]
    assert prompts.abnormal_rows(None).tolist() == list(range(len(prompts.abnormal)))
    assert prompts.description_rows("right").tolist() == [[5], [14], [23]]
    assert prompts.description_rows(None)[1].tolist() == list(range(9, 18))


def test_gradients_reach_the_learners_never_clip_and_agree_between_paths(
    text: FiLoText, clip: ClipBundle, image_features: torch.Tensor
) -> None:
    clip_before = {name: value.clone() for name, value in clip.model.state_dict().items()}
    gradients = []
    for optimized in (True, False):
        text.zero_grad()
        f_n, f_a = text(image_features, CATEGORY, MIXED_POSITIONS, optimized=optimized)
        descriptions = text.description_features(image_features, CATEGORY, MIXED_POSITIONS, optimized=optimized)
        ((f_n * f_a).sum() + descriptions[:, 0].sum()).backward()
        for name, parameter in text.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        gradients.append({name: p.grad.clone() for name, p in text.named_parameters()})
    for name, fast in gradients[0].items():
        torch.testing.assert_close(fast, gradients[1][name], rtol=1e-5, atol=1e-6, msg=name)
    for name, parameter in clip.model.named_parameters():
        assert parameter.grad is None, name
    for name, value in clip.model.state_dict().items():
        assert torch.equal(value, clip_before[name]), name


def test_state_dict_holds_only_the_learner_weights(text: FiLoText, clip: ClipBundle) -> None:
    width, embed_dim = 64, 48
    expected = {}
    for learner in ("normal_prompt_learner", "abnormal_prompt_learner"):
        expected |= {
            f"{learner}.ctx": (N_CTX, width),
            f"{learner}.meta_net.linear1.weight": (embed_dim // 16, embed_dim),
            f"{learner}.meta_net.linear1.bias": (embed_dim // 16,),
            f"{learner}.meta_net.linear2.weight": (width, embed_dim // 16),
            f"{learner}.meta_net.linear2.bias": (width,),
        }
    assert {name: tuple(value.shape) for name, value in text.state_dict().items()} == expected
    assert sum(p.numel() for p in text.parameters()) == sum(torch.Size(s).numel() for s in expected.values())
    assert not any(m is clip.model for m in text.modules())


def test_context_is_initialised_with_std_002_from_the_global_rng(clip: ClipBundle) -> None:
    torch.manual_seed(3)
    first = FiLoText(clip, 12)
    torch.manual_seed(3)
    second = FiLoText(clip, 12)
    assert torch.equal(first.normal_prompt_learner.ctx, second.normal_prompt_learner.ctx)
    assert not torch.equal(first.normal_prompt_learner.ctx, first.abnormal_prompt_learner.ctx)
    assert 0.015 < first.normal_prompt_learner.ctx.std().item() < 0.025


def test_without_descriptions_only_generic_prompts_are_used(clip: ClipBundle, image_features: torch.Tensor) -> None:
    model = FiLoText(clip, N_CTX)
    prompts = model.prepare("wood", [])
    with torch.no_grad():
        f_n, f_a = model(image_features, "wood", ["top", None, "left"])
        assert f_n.shape == (3, 48)
        assert model.description_features(image_features, "wood").shape == (3, 0, 48)
    assert len(prompts.abnormal) == 5 * 9
    assert f_a.shape == (3, 48)


def test_usage_errors_name_the_problem(text: FiLoText, clip: ClipBundle, image_features: torch.Tensor) -> None:
    with pytest.raises(KeyError, match="'bottle'.*prepare"):
        text(image_features, "bottle")
    with pytest.raises(ValueError, match="2 positions for 3 images"):
        text(image_features, CATEGORY, ["top", "left"])
    with pytest.raises(ValueError, match="'middle'"):
        text(image_features, CATEGORY, ["top", "middle", None])
    long_description = " ".join(["very"] * 80) + " long"
    with pytest.raises(FiloError, match=r"category 'pcb3'.*77-token.*shorten"):
        text.prepare(CATEGORY, [long_description])
    assert text.prompts(CATEGORY).descriptions == DESCRIPTIONS


def test_authors_conditioning_gives_the_whole_batch_the_first_images_text(
    text: FiLoText, image_features: torch.Tensor
) -> None:
    with torch.no_grad():
        f_n, f_a = text(image_features, CATEGORY, MIXED_POSITIONS, conditioning="authors")
        first_n, first_a = text(image_features[:1], CATEGORY, MIXED_POSITIONS[:1])
        described = text.description_features(image_features, CATEGORY, MIXED_POSITIONS,
                                               conditioning="authors")
        first_described = text.description_features(image_features[:1], CATEGORY, MIXED_POSITIONS[:1])
        own_n, _ = text(image_features, CATEGORY, MIXED_POSITIONS)
    for i in range(len(image_features)):
        torch.testing.assert_close(f_n[i], first_n[0], rtol=0, atol=0)
        torch.testing.assert_close(f_a[i], first_a[0], rtol=0, atol=0)
        torch.testing.assert_close(described[i], first_described[0], rtol=0, atol=0)
    assert (own_n[1] - f_n[1]).abs().max() > 1e-4  # per-image conditioning really differs at batch > 1
    with pytest.raises(FiloError, match="conditioning must be one of"):
        text(image_features, CATEGORY, conditioning="first")
