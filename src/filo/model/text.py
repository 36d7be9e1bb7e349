"""The text side of FiLo: image-conditioned prompt learners and the frozen CLIP text encoding.

For each category the prompt texts of :mod:`filo.model.prompts` are tokenized once and
their frozen token embeddings are cut around the ``n_ctx`` placeholder slots
(:class:`CategoryPrompts`). Per image, each learner adds ``meta_net(image feature)`` to its
learned context vectors, the context replaces the placeholders, and the result runs
through the frozen CLIP text tower (:func:`encode_token_embeddings`). Prompt features are
L2-normalized, averaged over the normal set into F_n and over the abnormal prompts of the
image's position (all positions when unknown) into F_a, and renormalized.

Two exact shortcuts, on with ``optimized=True``: sequences are cut after the longest EOT
token of the batch (the text transformer is causal, so later tokens cannot change the EOT
feature), and only the abnormal prompts that are averaged are encoded. ``optimized=False``
is the faithful full computation (every prompt, the whole context, select afterwards).

Conditioning (``conditioning``): ``per_image`` (default) gives every image text features
conditioned on its own feature and position. ``authors`` is their code's rule: the whole
batch gets the text features of its first image (their meta-nets read only the first
image's feature; they never pass positions for more than one image, so filo takes the
first image's position too). The two agree at batch size 1, the authors' batch size in
training and testing. ``per_image`` is the
default because it makes an image's result independent of its batch: batched evaluation
then gives exactly what the authors' batch-1 evaluation gives, while ``authors`` at batch
size > 1 reproduces their code in a setting they never ran it in (their phase 2 cannot).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from filo.errors import FiloError
from filo.model.clip_backbone import ClipBundle
from filo.model.config import CONDITIONINGS, Conditioning
from filo.model.prompts import abnormal_prompt_row, abnormal_prompt_texts, normal_prompt_texts
from filo.vocabulary import POSITIONS

_TEXT_TOWER_PARTS = ("token_embedding", "positional_embedding", "attn_mask", "transformer", "ln_final",
                     "text_projection")


def encode_token_embeddings(clip_model: nn.Module, embeddings: Tensor, eot_index: Tensor) -> Tensor:
    """Encode token embeddings (N, L, width) with CLIP's text tower; return the (N, embed_dim) EOT features.

    Same computation as open_clip's ``CLIP.encode_text`` after the token lookup (positional
    embedding, causal transformer, ``ln_final``, feature at ``eot_index``, projection), but
    on embeddings the caller built, so learned context vectors can stand in for tokens.
    ``L`` may be shorter than the context length as long as it covers every EOT index:
    the causal mask is sliced with the positional embedding. Features are not normalized.
    """
    length = embeddings.shape[1]
    cast_dtype = clip_model.transformer.get_cast_dtype()
    x = embeddings.to(cast_dtype) + clip_model.positional_embedding[:length].to(cast_dtype)
    x = clip_model.transformer(x, attn_mask=clip_model.attn_mask[:length, :length])
    x = clip_model.ln_final(x)
    pooled = x[torch.arange(x.shape[0], device=x.device), eot_index]
    projection = clip_model.text_projection
    return projection(pooled) if isinstance(projection, nn.Linear) else pooled @ projection


@dataclass(frozen=True)
class TokenizedPrompts:
    """One list of prompts, tokenized once, with the frozen embeddings around the context slots.

    ``prefix`` is the SOS embedding (P, 1, width), ``suffix`` everything after the ``n_ctx``
    placeholders (P, context - 1 - n_ctx, width), ``eot_index`` the EOT position per prompt
    (argmax of the token ids, as open_clip pools).
    """

    texts: tuple[str, ...]
    tokens: Tensor
    prefix: Tensor
    suffix: Tensor
    eot_index: Tensor

    def __len__(self) -> int:
        return len(self.texts)

    def to(self, device: torch.device) -> TokenizedPrompts:
        """The same prompts with every tensor on `device`."""
        return TokenizedPrompts(self.texts, self.tokens.to(device), self.prefix.to(device),
                                self.suffix.to(device), self.eot_index.to(device))


@dataclass(frozen=True)
class CategoryPrompts:
    """Normal and abnormal prompts of one category, tokenized and embedded once.

    Abnormal row ``state * 9 + position`` is (abnormal state, position), states being the
    category's descriptions first, then the generic ones (see :mod:`filo.model.prompts`).
    """

    category: str
    descriptions: tuple[str, ...]
    normal: TokenizedPrompts
    abnormal: TokenizedPrompts

    @classmethod
    def build(cls, clip: ClipBundle, category: str, descriptions: Sequence[str], n_ctx: int) -> CategoryPrompts:
        """Tokenize and embed `category`'s prompts (one tokenizer call) with the frozen CLIP."""
        normal_texts = normal_prompt_texts(category, n_ctx)
        abnormal_texts = abnormal_prompt_texts(category, descriptions, n_ctx)
        texts = normal_texts + abnormal_texts
        device = clip.model.token_embedding.weight.device
        tokens = clip.tokenizer(texts).to(device)
        eot_index = tokens.argmax(dim=-1)
        _check_prompts_fit(category, texts, eot_index, context_length=tokens.shape[1])
        with torch.no_grad():
            embeddings = clip.model.token_embedding(tokens)

        def tokenized(rows: slice) -> TokenizedPrompts:
            return TokenizedPrompts(
                texts=tuple(texts[rows]),
                tokens=tokens[rows],
                prefix=embeddings[rows, :1],
                suffix=embeddings[rows, 1 + n_ctx:],
                eot_index=eot_index[rows],
            )

        split = len(normal_texts)
        return cls(category, tuple(descriptions), tokenized(slice(0, split)), tokenized(slice(split, None)))

    @property
    def device(self) -> torch.device:
        """Where the cached tensors live."""
        return self.normal.tokens.device

    def to(self, device: torch.device) -> CategoryPrompts:
        """The same prompts with every tensor on `device`."""
        return CategoryPrompts(self.category, self.descriptions, self.normal.to(device), self.abnormal.to(device))

    def abnormal_rows(self, position: str | None = None) -> Tensor:
        """Rows of the abnormal prompts at `position` (every row when None), state-major."""
        n_states = len(self.abnormal) // len(POSITIONS)
        rows = [abnormal_prompt_row(state, where) for state in range(n_states) for where in _positions(position)]
        return torch.tensor(rows, device=self.device)

    def description_rows(self, position: str | None = None) -> Tensor:
        """Abnormal rows of each fine-grained description at `position` (all when None).

        Shape (n_descriptions, 1) for one position, (n_descriptions, 9) for all; row k
        belongs to description k.
        """
        where = _positions(position)
        rows = [abnormal_prompt_row(k, p) for k in range(len(self.descriptions)) for p in where]
        return torch.tensor(rows, dtype=torch.long, device=self.device).view(len(self.descriptions), len(where))


def _positions(position: str | None) -> tuple[str, ...]:
    return POSITIONS if position is None else (position,)


def _check_prompts_fit(category: str, texts: Sequence[str], eot_index: Tensor, context_length: int) -> None:
    """Refuse prompts whose EOT sits in the last context slot: the tokenizer cut them short.

    A prompt of exactly the context length is refused too; it cannot be told apart from a cut one.
    """
    too_long = (eot_index == context_length - 1).nonzero().flatten().tolist()
    if too_long:
        raise FiloError(
            f"prompt {texts[too_long[0]]!r} of category {category!r} does not fit CLIP's "
            f"{context_length}-token text context ({len(too_long)} such prompt(s)); shorten that "
            f"category's descriptions in the descriptions artifact or lower n_ctx"
        )


class PromptLearner(nn.Module):
    """Learned context vectors shifted per image by a small meta-net (CoCoOp style).

    Attribute names (``ctx``, ``meta_net.linear1``, ``meta_net.linear2``) match the authors'
    checkpoints, so their weights load as they are.
    """

    def __init__(self, n_ctx: int, text_width: int, embed_dim: int) -> None:
        super().__init__()
        self.ctx = nn.Parameter(torch.empty(n_ctx, text_width).normal_(std=0.02))
        hidden = embed_dim // 16
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(embed_dim, hidden)),
            ("relu", nn.ReLU()),
            ("linear2", nn.Linear(hidden, text_width)),
        ]))

    def forward(self, image_features: Tensor) -> Tensor:
        """Per-image context (B, n_ctx, width) = ctx + meta_net(image feature (B, embed_dim))."""
        return self.ctx.unsqueeze(0) + self.meta_net(image_features).unsqueeze(1)


class FiLoText(nn.Module):
    """Both prompt learners plus the prompt cache; turns image features into F_n and F_a.

    Usage: ``prepare(category, descriptions)`` once per category, then call the module
    with the L2-normalized global image features (B, embed_dim) of images of that category.
    """

    def __init__(self, clip: ClipBundle, n_ctx: int = 12) -> None:
        super().__init__()
        _check_text_tower(clip.model)
        # ClipBundle is not an nn.Module, so this plain attribute keeps the frozen, shared
        # CLIP out of parameters(), state_dict() and this module's .to()/.train() calls.
        self._clip = clip
        self.n_ctx = n_ctx
        text_width = clip.model.token_embedding.embedding_dim
        embed_dim = _text_embed_dim(clip.model)
        self.normal_prompt_learner = PromptLearner(n_ctx, text_width, embed_dim)
        self.abnormal_prompt_learner = PromptLearner(n_ctx, text_width, embed_dim)
        # Plain dict: the cached token embeddings are derived from CLIP, not learned state.
        self._categories: dict[str, CategoryPrompts] = {}

    def prepare(self, category: str, descriptions: Sequence[str]) -> CategoryPrompts:
        """Build (or reuse) the prompts of raw category `category`; new descriptions replace old ones."""
        cached = self._categories.get(category)
        if cached is None or cached.descriptions != tuple(descriptions):
            cached = CategoryPrompts.build(self._clip, category, descriptions, self.n_ctx)
            self._categories[category] = cached
        return cached

    def prompts(self, category: str) -> CategoryPrompts:
        """The prepared prompts of `category`, on the CLIP model's current device."""
        if category not in self._categories:
            raise KeyError(f"no prompts for category {category!r}; call prepare({category!r}, descriptions) first "
                           f"(prepared: {sorted(self._categories)})")
        cached = self._categories[category]
        device = self._clip.model.token_embedding.weight.device
        if cached.device != device:
            cached = self._categories[category] = cached.to(device)
        return cached

    def forward(
        self,
        image_features: Tensor,
        category: str,
        positions: Sequence[str | None] | None = None,
        *,
        optimized: bool = True,
        conditioning: Conditioning = "per_image",
    ) -> tuple[Tensor, Tensor]:
        """F_n and F_a (each (B, embed_dim), L2-normalized) for B images of `category`.

        F_a averages the abnormal prompts at ``positions[i]`` (a name from
        :data:`filo.vocabulary.POSITIONS`), or at every position when `positions` or
        ``positions[i]`` is None. `optimized` switches the exact shortcuts, `conditioning`
        picks whose feature conditions the prompts (module docstring).
        """
        prompts = self.prompts(category)
        per_image = _per_image_positions(positions, len(image_features))
        if _first_image_only(conditioning, len(per_image)):
            normal, abnormal = self(image_features[:1], category, per_image[:1], optimized=optimized)
            return normal.expand(len(per_image), -1), abnormal.expand(len(per_image), -1)
        normal_ctx = self.normal_prompt_learner(image_features)
        abnormal_ctx = self.abnormal_prompt_learner(image_features)
        every_normal_row = torch.arange(len(prompts.normal), device=prompts.device)
        normal = self._encode_rows(prompts.normal, normal_ctx, [every_normal_row] * len(per_image), optimized)
        abnormal_rows = [prompts.abnormal_rows(position) for position in per_image]
        abnormal = self._encode_rows(prompts.abnormal, abnormal_ctx, abnormal_rows, optimized)
        return _mean_directions(normal), _mean_directions(abnormal)

    def description_features(
        self,
        image_features: Tensor,
        category: str,
        positions: Sequence[str | None] | None = None,
        *,
        optimized: bool = True,
        conditioning: Conditioning = "per_image",
    ) -> Tensor:
        """Per image, each fine-grained description's abnormal text feature (B, n_descriptions, embed_dim).

        A description's feature averages its abnormal prompts at the image's position (all
        positions when unknown) and is renormalized; used to explain predictions. The
        prompts are conditioned as `conditioning` says, as in `forward`.
        """
        prompts = self.prompts(category)
        per_image = _per_image_positions(positions, len(image_features))
        if _first_image_only(conditioning, len(per_image)):
            first = self.description_features(image_features[:1], category, per_image[:1],
                                              optimized=optimized)
            return first.expand(len(per_image), -1, -1)
        if not prompts.descriptions:
            return image_features.new_zeros(len(per_image), 0, _text_embed_dim(self._clip.model))
        context = self.abnormal_prompt_learner(image_features)
        rows = [prompts.description_rows(position) for position in per_image]
        features = self._encode_rows(prompts.abnormal, context, [r.flatten() for r in rows], optimized)
        grouped = [f.view(*r.shape, -1) for f, r in zip(features, rows)]
        return torch.stack([F.normalize(g.mean(dim=1), dim=-1) for g in grouped])

    def _encode_rows(self, prompt_set: TokenizedPrompts, context: Tensor, rows_per_image: Sequence[Tensor],
                     optimized: bool) -> list[Tensor]:
        """Normalized features of the given prompt rows of each image: one (len(rows), D) tensor per image."""
        if optimized:
            features = self._encode(prompt_set, context, rows_per_image, truncate=True)
            return list(features.split([len(rows) for rows in rows_per_image]))
        every_row = torch.arange(len(prompt_set), device=prompt_set.tokens.device)
        features = self._encode(prompt_set, context, [every_row] * len(rows_per_image), truncate=False)
        features = features.view(len(rows_per_image), len(prompt_set), -1)
        return [features[image, rows] for image, rows in enumerate(rows_per_image)]

    def _encode(self, prompt_set: TokenizedPrompts, context: Tensor, rows_per_image: Sequence[Tensor],
                truncate: bool) -> Tensor:
        """Encode every (image, row) pair in one batch, image-major; L2-normalized (N, D)."""
        rows = torch.cat(list(rows_per_image))
        counts = torch.tensor([len(r) for r in rows_per_image], device=context.device)
        image_index = torch.repeat_interleave(torch.arange(len(rows_per_image), device=context.device), counts)
        eot_index = prompt_set.eot_index[rows]
        length = int(eot_index.max()) + 1 if truncate else prompt_set.tokens.shape[1]
        suffix_length = length - 1 - context.shape[1]
        embeddings = torch.cat(
            [prompt_set.prefix[rows], context[image_index].to(prompt_set.prefix.dtype),
             prompt_set.suffix[rows, :suffix_length]],
            dim=1,
        )
        return F.normalize(encode_token_embeddings(self._clip.model, embeddings, eot_index), dim=-1)


def _mean_directions(features_per_image: Iterable[Tensor]) -> Tensor:
    """Renormalized mean of each image's normalized prompt features, stacked to (B, D)."""
    return torch.stack([F.normalize(features.mean(dim=0), dim=-1) for features in features_per_image])


def _first_image_only(conditioning: str, batch_size: int) -> bool:
    """Whether `conditioning` gives the whole batch its first image's text features."""
    if conditioning not in CONDITIONINGS:
        raise FiloError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
    return conditioning == "authors" and batch_size > 1


def _per_image_positions(positions: Sequence[str | None] | None, batch_size: int) -> list[str | None]:
    if positions is None:
        return [None] * batch_size
    if len(positions) != batch_size:
        raise ValueError(f"got {len(positions)} positions for {batch_size} images; pass one per image or None")
    return list(positions)


def _text_embed_dim(clip_model: nn.Module) -> int:
    projection = clip_model.text_projection
    return projection.out_features if isinstance(projection, nn.Linear) else projection.shape[1]


def _check_text_tower(clip_model: nn.Module) -> None:
    """FiLo's prompt learning needs open_clip's built-in CLIP text tower with EOT (argmax) pooling."""
    missing = [part for part in _TEXT_TOWER_PARTS if getattr(clip_model, part, None) is None]
    pool_type = getattr(clip_model, "text_pool_type", "argmax")
    if missing or pool_type != "argmax":
        raise FiloError(
            f"CLIP model {type(clip_model).__name__} has no standard causal text tower with EOT pooling "
            f"(missing {missing}, text_pool_type {pool_type!r}); use an open_clip CLIP model such as "
            f"'ViT-L-14-336'"
        )
