"""Linear and MMCI heads, and the exactness of MMCI's folded 7x7 kernel."""

from __future__ import annotations

import torch

from filo.model.heads import LinearHeads, MMCIHeads, tokens_to_grid


def _tokens(count, batch=2, grid=(5, 6), width=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, grid[0] * grid[1], width, generator=g) for _ in range(count)]


def test_linear_heads_shapes_and_values():
    heads = LinearHeads(8, 4, 2)
    tokens = _tokens(2)
    out = heads(tokens)
    assert [o.shape for o in out] == [(2, 30, 4)] * 2
    torch.testing.assert_close(out[1], tokens[1] @ heads.fc[1].weight.T + heads.fc[1].bias)


def test_mmci_equals_explicit_sum_of_six_convolutions():
    torch.manual_seed(0)
    heads = MMCIHeads(8, 4, 1, fold=False)
    tokens = _tokens(1)
    grid = (5, 6)
    x = tokens_to_grid(tokens[0], grid)
    expected = 0
    for conv in heads.branches(0):
        rows, cols = conv.kernel_size
        padded = torch.nn.functional.pad(x, ((cols - 1) // 2, (cols - 1) // 2, (rows - 1) // 2, (rows - 1) // 2))
        expected = expected + torch.nn.functional.conv2d(padded, conv.weight, conv.bias)
    out = heads(tokens, grid)[0]
    torch.testing.assert_close(out, expected.flatten(2).transpose(1, 2), atol=1e-6, rtol=0)


def test_folded_mmci_matches_unfolded_within_tolerance():
    torch.manual_seed(1)
    unfolded = MMCIHeads(8, 4, 3, fold=False)
    folded = MMCIHeads(8, 4, 3, fold=True)
    folded.load_state_dict(unfolded.state_dict())
    tokens = _tokens(3, seed=2)
    with torch.no_grad():
        for a, b in zip(unfolded(tokens, (5, 6)), folded(tokens, (5, 6))):
            assert (a - b).abs().max() < 1e-5


def test_taps_sharing_one_tensor_share_one_convolution_with_the_same_outputs():
    torch.manual_seed(1)
    heads = MMCIHeads(8, 4, 3, fold=True)
    shared = _tokens(1, seed=3)[0]
    with torch.no_grad():
        together = heads([shared, shared, shared], (5, 6))
        apart = heads([shared.clone(), shared.clone(), shared.clone()], (5, 6))
    assert list(heads._folded_cache) == [(0, 1, 2), (0,), (1,), (2,)]
    for a, b in zip(together, apart, strict=True):  # the same sums in another order: within float32 rounding
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert not torch.allclose(together[0], together[1])


def test_folded_kernel_follows_weight_updates():
    torch.manual_seed(1)
    heads = MMCIHeads(8, 4, 1, fold=True)
    tokens = _tokens(1)
    with torch.no_grad():
        before = heads(tokens, (5, 6))[0]
        heads.conv3x3[0].weight.add_(1.0)
        after = heads(tokens, (5, 6))[0]
    heads.fold = False
    with torch.no_grad():
        reference = heads(tokens, (5, 6))[0]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference, atol=1e-5, rtol=1e-5)


def test_training_path_gets_gradients_for_every_branch():
    heads = MMCIHeads(8, 4, 1, fold=True)
    out = heads(_tokens(1), (5, 6))[0]
    out.sum().backward()
    assert all(conv.weight.grad is not None for conv in heads.branches(0))
