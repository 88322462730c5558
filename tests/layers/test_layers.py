import torch

from mlic.layers import (
    GDN,
    LocalContext,
    anchor_mask,
    ckbd_anchor,
    ckbd_nonanchor,
    squeeze_anchor,
    squeeze_nonanchor,
    unsqueeze_anchor,
    unsqueeze_nonanchor,
)


def test_checkerboard_convention_and_inverses():
    x = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8) + 1
    m = anchor_mask(6, 8)
    assert m[0, 0, 0, 0] == 0 and m[0, 0, 0, 1] == 1 and m[0, 0, 1, 0] == 1
    assert torch.equal(ckbd_anchor(x) + ckbd_nonanchor(x), x)
    assert torch.equal(unsqueeze_anchor(squeeze_anchor(x)), ckbd_anchor(x))
    assert torch.equal(unsqueeze_nonanchor(squeeze_nonanchor(x)), ckbd_nonanchor(x))
    assert squeeze_anchor(x).shape == (2, 3, 6, 4)


def test_gdn_inverse_pair_and_defaults():
    g, ig = GDN(4), GDN(4, inverse=True)
    x = torch.randn(1, 4, 5, 5)
    # With beta=1, gamma=0.1·I: y = x / sqrt(1 + 0.1 x²)
    assert torch.allclose(g(x), x / torch.sqrt(1 + 0.1 * x**2), atol=1e-5)
    assert torch.allclose(ig(x), x * torch.sqrt(1 + 0.1 * x**2), atol=1e-5)


def test_local_context_sees_only_anchors_and_is_size_agnostic():
    torch.manual_seed(0)
    lc = LocalContext(32).eval()
    x = ckbd_anchor(torch.randn(1, 32, 8, 8))
    y = lc(x)
    assert y.shape == (1, 64, 8, 8)
    # Changing a non-anchor value of the input does not matter when the module is fed anchors only;
    # changing an anchor changes outputs only within the 5×5 window (+ its own window of windows).
    x2 = x.clone()
    x2[0, :, 4, 5] += 1.0  # (4, 5) is an anchor
    changed = (lc(x2) - y).abs().sum(1)[0] > 1e-6
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert rows.min() >= 0 and (rows - 4).abs().max() <= 4 and (cols - 5).abs().max() <= 4
    # Other sizes in any order work.
    for h, w in [(4, 6), (8, 8), (2, 2)]:
        assert lc(ckbd_anchor(torch.randn(2, 32, h, w))).shape == (2, 64, h, w)


def test_local_context_at_nonanchors_only_equals_the_full_context_there():

    torch.manual_seed(0)
    lc = LocalContext(32).eval()
    for h, w in ((6, 10), (5, 8)):  # even sizes take the stride-2 unfolds, odd ones the gather
        x = torch.randn(2, 32, h, w)
        with torch.no_grad():
            full = lc(x)
            half = lc(x, only="nonanchor")
        assert half.shape == (2, 64, h, w // 2)
        torch.testing.assert_close(half, squeeze_nonanchor(full), rtol=0, atol=1e-5)
