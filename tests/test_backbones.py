"""course_lib.models.backbones: the miniature plain and residual nets (He et al. 2016) count their
layers like the paper, a residual block with a silent branch is the identity, and the torchvision
table counts parameters like torchvision and FLOPs like the formula."""
import pytest
import torch
from torch import nn
from torchvision import models

from course_lib.models.backbones import BasicBlock, DeepNet, compare_backbones


def test_depth_counts_the_weighted_layers():
    for depth in (4, 8, 20):
        net = DeepNet(depth, residual=False)
        assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in net.modules()) == depth
        assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="even"):
        DeepNet(7, residual=True)


def test_residual_block_with_a_silent_branch_is_the_identity():
    block = BasicBlock(4, residual=True).eval()
    nn.init.zeros_(block.bn2.weight)
    x = torch.rand(2, 4, 6, 6)                    # non-negative, as after a ReLU
    assert torch.allclose(block(x), x)
    plain = BasicBlock(4, residual=False).eval()
    nn.init.zeros_(plain.bn2.weight)
    assert torch.equal(plain(x), torch.zeros_like(x))   # a plain block cannot even pass its input on


def test_backbone_table_against_torchvision_and_the_formula():
    rows = compare_backbones(size=32, repeats=1, names=("ResNet-18",))
    assert rows["ResNet-18"]["params"] == sum(p.numel() for p in models.resnet18().parameters()) == 11_689_512
    # the stem conv alone: 2 * 3 * 64 * 7 * 7 per output pixel of a 16 x 16 map
    assert rows["ResNet-18"]["flops"] > 2 * 3 * 64 * 49 * 16 * 16
    assert rows["ResNet-18"]["seconds"] > 0
    with pytest.raises(ValueError, match="unknown backbone"):
        compare_backbones(names=("AlexNet",))
