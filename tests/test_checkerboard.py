"""course_lib.ops.checkerboard: the Nyquist share on known patterns, against the DFT bins written
out as sums, and the stride-2 transposed convolution that makes one (Odena et al. 2016)."""
import pytest
import torch
from torch import nn

from course_lib.models.developments import UPSAMPLING, UpsamplingDecoder, upsampling_layer
from course_lib.ops.checkerboard import checkerboard_score


def _sign(n):
    return 1 - 2 * (torch.arange(n) % 2).double()       # +1, -1, +1, ...


def test_pure_period_two_patterns_score_one_and_smooth_ones_almost_zero():
    rows, cols = _sign(8)[:, None], _sign(6)[None, :]
    for pattern in (rows * cols, rows.expand(8, 6), 3 + cols.expand(8, 6)):
        assert checkerboard_score(pattern.float()) == pytest.approx(1.0)
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    assert checkerboard_score(torch.sin(2 * torch.pi * (x + 2 * y) / 32)) < 1e-10
    assert checkerboard_score(torch.ones(4, 4)) == 0.0


def test_score_is_the_energy_of_the_three_nyquist_bins_written_as_sums():
    """The DFT at (½, 0) cycles per pixel is Σ x (-1)^row, and so on; Parseval gives the total."""
    x = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(0)).double()
    x = x - x.mean((-2, -1), keepdim=True)
    rows, cols = _sign(10)[:, None], _sign(12)[None, :]
    bins = sum((x * pattern).sum((-2, -1)).square().sum() for pattern in (rows, cols, rows * cols))
    expected = bins / (10 * 12 * x.square().sum())
    assert checkerboard_score(x.float()) == pytest.approx(expected.item(), rel=1e-5)


def test_stride_two_deconvolution_with_kernel_three_makes_a_checkerboard_of_a_constant():
    """Odena et al.: kernel 3, stride 2 overlaps unevenly (1, 2, 1, 2, ... contributions per row);
    kernel 4 initialised bilinear and resize-convolution do not (away from the border)."""
    constant = torch.ones(1, 1, 16, 16)
    scores = {}
    for kind in UPSAMPLING:
        layer = upsampling_layer(kind, 1)
        with torch.no_grad():
            if kind != "deconv 4x4 bilinear":
                layer.weight.fill_(1) if kind == "deconv 3x3" else layer[1].weight.fill_(1)
                nn.init.zeros_(layer.bias if kind == "deconv 3x3" else layer[1].bias)
            scores[kind] = checkerboard_score(layer(constant), border=2)
    assert scores["deconv 3x3"] > 0.9
    assert scores["deconv 4x4 bilinear"] < 1e-12 and scores["resize-conv"] < 1e-12


def test_decoders_upsample_twice_and_reject_unknown_kinds():
    for kind in UPSAMPLING:
        assert UpsamplingDecoder(kind)(torch.rand(2, 3, 8, 10)).shape == (2, 3, 16, 20)
    with pytest.raises(ValueError, match="kind must be one of"):
        upsampling_layer("pixel shuffle", 4)


def test_checkerboard_score_rejects_bad_input():
    with pytest.raises(ValueError, match="even sides"):
        checkerboard_score(torch.rand(7, 8))
    with pytest.raises(ValueError, match="even sides"):
        checkerboard_score(torch.rand(9, 8), border=1)
    with pytest.raises(TypeError, match="float"):
        checkerboard_score(torch.ones(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        checkerboard_score(torch.rand(8))
