"""course_lib.models.enet (and notebook 03's training, course_lib.recipes.enet) against the paper (Table 1, §3-§5) and against torch's own operators."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import REPO_ROOT
from course_lib.models.enet import (AsymmetricConv, DownsamplingBottleneck, ENet, InitialBlock, RegularBottleneck,
                                    UpsamplingBottleneck, class_weights, realtime_table, structure)
from course_lib.recipes.enet import (ENET_CHECKPOINT, FULL_ENET_RECIPE, ENetRecipe, held_out_iou, load_enet_checkpoint,
                                     save_enet_checkpoint, train_enet)

# Table 1 of the paper, for a 512 x 512 input and C classes: (name, type, output size).
C = 4
_SECTION_2 = [("", 1), ("dilated 2", 2), ("asymmetric 5", 3), ("dilated 4", 4), ("", 5),
              ("dilated 8", 6), ("asymmetric 5", 7), ("dilated 16", 8)]
PAPER_TABLE = (
    [("initial", "", (16, 256, 256)), ("bottleneck1.0", "downsampling", (64, 128, 128))]
    + [(f"bottleneck1.{i}", "", (64, 128, 128)) for i in range(1, 5)]
    + [("bottleneck2.0", "downsampling", (128, 64, 64))]
    + [(f"bottleneck2.{i}", kind, (128, 64, 64)) for kind, i in _SECTION_2]
    + [(f"bottleneck3.{i}", kind, (128, 64, 64)) for kind, i in _SECTION_2]  # "repeat section 2"
    + [("bottleneck4.0", "upsampling", (64, 128, 128)), ("bottleneck4.1", "", (64, 128, 128)),
       ("bottleneck4.2", "", (64, 128, 128)), ("bottleneck5.0", "upsampling", (16, 256, 256)),
       ("bottleneck5.1", "", (16, 256, 256)), ("fullconv", "", (C, 512, 512))]
)


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


# --- the network of Table 1 -------------------------------------------------------------------------

def test_every_row_of_table_1_for_a_512_input():
    # shapes on the meta device: the real forward code, no arithmetic (a CPU pass is in the notebook)
    assert structure(ENet(C).to("meta"), (1, 3, 512, 512)) == PAPER_TABLE


def test_table_rows_are_the_attributes_in_order():
    names = [name for name, _ in ENet(C).named_children()]
    assert names == [row[0].replace(".", "_") for row in PAPER_TABLE]


def test_real_forward_divides_the_table_by_eight():
    rows = structure(ENet(C), (1, 3, 64, 64))
    assert [(n, t, (c, h * 8, w * 8)) for n, t, (c, h, w) in rows] == PAPER_TABLE


def test_parameter_count_within_8_percent_of_the_paper():
    assert abs(_n_params(ENet(C)) - 0.37e6) / 0.37e6 < 0.08  # §5.2: "0.37 M"


def test_prelu_in_encoder_relu_in_decoder():
    model = ENet(C)
    for name, block in model.named_children():
        stage = int(name[len("bottleneck")]) if name.startswith("bottleneck") else None
        acts = {type(m) for m in block.modules() if isinstance(m, (nn.PReLU, nn.ReLU))}
        if stage in (4, 5):
            assert acts == {nn.ReLU}, name
        elif name != "fullconv":
            assert acts == {nn.PReLU}, name


def test_spatial_dropout_001_in_stage_1_then_01():
    for name, block in ENet(C).named_children():
        if name.startswith("bottleneck"):
            assert isinstance(block.dropout, nn.Dropout2d)
            assert block.dropout.p == (0.01 if name.startswith("bottleneck1") else 0.1), name
    rates = {name: block.dropout.p for name, block in ENet(C, dropout=(0.0, 0.2)).named_children()
             if name.startswith("bottleneck")}
    assert set(rates.values()) == {0.0, 0.2} and rates["bottleneck1_4"] == 0.0 and rates["bottleneck5_1"] == 0.2
    model = ENet(C, dropout=(0, 0)).train()
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(model(x), model(x))  # nothing random left in training mode


def test_train_mode_non_square_batch_and_gradients_reach_every_parameter():
    model = ENet(3).train()
    out = model(torch.rand(2, 3, 16, 24))
    assert out.shape == (2, 3, 16, 24)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_structure_keeps_training_mode():
    model = ENet(2).train()
    structure(model, (1, 3, 32, 32))
    assert model.training


# --- the blocks -------------------------------------------------------------------------------------

def test_initial_block_is_13_conv_maps_and_3_pooled_maps():
    block = InitialBlock(3, 16)
    assert block.conv.out_channels == 13
    x = torch.rand(1, 3, 16, 16)
    pre_bn = torch.cat([block.conv(x), block.pool(x)], 1)
    assert pre_bn.shape == (1, 16, 8, 8)
    torch.testing.assert_close(pre_bn[:, 13:], F.max_pool2d(x, 2))
    assert block(x).shape == (1, 16, 8, 8)


def test_asymmetric_conv_is_a_rank_one_5x5_conv():
    torch.manual_seed(0)
    conv = AsymmetricConv(1, 1, 5)
    vertical, horizontal = conv[0].weight[0, 0, :, 0], conv[1].weight[0, 0, 0, :]
    kernel = torch.outer(vertical, horizontal)[None, None]
    x = torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(conv(x), F.conv2d(x, kernel, padding=2))
    assert _n_params(conv) == 10 and torch.linalg.matrix_rank(kernel[0, 0]) == 1


@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_dilated_bottleneck_receptive_field_is_2d_plus_1(dilation):
    torch.manual_seed(0)
    block = RegularBottleneck(8, dilation=dilation).eval()
    x = torch.rand(1, 8, 21, 21, requires_grad=True)
    block(x)[0, :, 10, 10].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    assert (rows.min().item(), rows.max().item()) == (10 - dilation, 10 + dilation)


def test_asymmetric_bottleneck_receptive_field_is_5x5():
    torch.manual_seed(0)
    block = RegularBottleneck(8, asymmetric_kernel_size=5).eval()
    x = torch.rand(1, 8, 15, 15, requires_grad=True)
    block(x)[0, :, 7, 7].sum().backward()
    support = x.grad.abs().sum((0, 1)) > 0
    assert support.sum() == 25 and support[5:10, 5:10].all()


def test_regular_bottleneck_has_paper_layers_and_keeps_shape():
    block = RegularBottleneck(64)
    assert (block.projection[0].kernel_size, block.projection[0].out_channels) == ((1, 1), 16)
    assert block.conv[0].kernel_size == (3, 3)
    assert all(m.bias is None for m in block.modules() if isinstance(m, nn.Conv2d))  # §4: no biases
    assert block(torch.rand(2, 64, 8, 8)).shape == (2, 64, 8, 8)


def test_downsampling_main_branch_is_padded_max_pool_with_indices():
    torch.manual_seed(0)
    block = DownsamplingBottleneck(16, 64).eval()
    nn.init.zeros_(block.expansion[1].weight)  # silence the extension branch
    x = torch.randn(1, 16, 8, 8)
    out, indices = block(x)
    pooled, expected_indices = F.max_pool2d(x, 2, return_indices=True)
    torch.testing.assert_close(out, block.activation(F.pad(pooled, (0, 0, 0, 0, 0, 48))))
    assert torch.equal(indices, expected_indices) and block.projection[0].stride == (2, 2)


def test_upsampling_main_branch_puts_values_where_the_maxima_were():
    torch.manual_seed(0)
    down = DownsamplingBottleneck(16, 64).eval()
    up = UpsamplingBottleneck(64, 16).eval()
    nn.init.zeros_(up.expansion[1].weight)
    x = torch.randn(1, 16, 8, 8)
    y, indices = down(x)
    main = up.main_conv(y)
    torch.testing.assert_close(up(y, indices), F.relu(F.max_unpool2d(main, indices, 2)))
    assert up(y, indices).shape == (1, 16, 8, 8)


def test_eval_forward_keeps_the_input_size():
    model = ENet(2).eval()
    x = torch.rand(1, 3, 32, 32)
    assert model(x).shape == (1, 2, 32, 32)


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(30, 32), (32, 36), (100, 100)])
def test_size_not_divisible_by_8_says_so(size):
    with pytest.raises(ValueError, match="divisible by 8"):
        ENet(2)(torch.rand(1, 3, *size))


def test_wrong_channel_count_says_so():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(1, 1, 32, 32\)"):
        ENet(2)(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        ENet(2)(torch.rand(3, 32, 32))


def test_not_a_tensor_says_so():
    with pytest.raises(TypeError, match="expects a tensor"):
        ENet(2)([[0.0]])


@pytest.mark.parametrize("kwargs", [dict(num_classes=0), dict(num_classes=2.0), dict(num_classes=True),
                                    dict(num_classes=2, in_channels=16), dict(num_classes=2, dropout=0.1),
                                    dict(num_classes=2, dropout=(0.1, 1.0)), dict(num_classes=2, dropout=(0.1,))])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs.keys() - {"num_classes"}), "num_classes")):
        ENet(**kwargs)


def test_bottleneck_cannot_be_dilated_and_asymmetric():
    with pytest.raises(ValueError, match="not both"):
        RegularBottleneck(16, dilation=2, asymmetric_kernel_size=5)


# --- exercise checks (notebook 03) ------------------------------------------------------------------

def test_exercise_checks_pass_the_reference_and_catch_a_missing_residual(capsys):
    from course_lib.exercises import check

    class NoResidual(RegularBottleneck):
        def forward(self, x):
            return self.activation(self.expansion(self.conv(self.projection(x))))

    class SwappedOrder(nn.Sequential):  # 1 x n before n x 1: same parameter count, other shapes
        def __init__(self, in_channels, out_channels, kernel_size=5):
            p = kernel_size // 2
            super().__init__(nn.Conv2d(in_channels, out_channels, (1, kernel_size), padding=(0, p), bias=False),
                             nn.Conv2d(out_channels, out_channels, (kernel_size, 1), padding=(p, 0), bias=False))

    check("B2.1", AsymmetricConv)
    check("B2.1", SwappedOrder)
    check("B2.2", RegularBottleneck)
    check("B2.2", NoResidual)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "B2.1 AsymmetricConv: ✓ matches the reference on 4 cases"
    assert lines[1].startswith("B2.1 AsymmetricConv: ✗ case 1") and "shape" in lines[1]
    assert lines[2] == "B2.2 RegularBottleneck: ✓ matches the reference on 4 cases"
    assert lines[3].startswith("B2.2 RegularBottleneck: ✗ case 1")


def test_class_weights_follow_the_papers_formula():
    """§5.2: w = 1 / ln(1.02 + p), bounded by 1 / ln 1.02 ≈ 50.5 for an absent class."""
    import math

    masks = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 2]])  # shares 13/16, 2/16, 1/16, 0
    expected = [1 / math.log(1.02 + p) for p in (13 / 16, 2 / 16, 1 / 16, 0.0)]
    torch.testing.assert_close(class_weights(masks, 4), torch.tensor(expected))
    assert class_weights(masks, 4)[3] == pytest.approx(50.498, abs=1e-3)
    assert class_weights(masks, 4, c=1.5)[0] == pytest.approx(1 / math.log(1.5 + 13 / 16))


@pytest.mark.parametrize("masks, num_classes, c, error, match", [
    (torch.rand(2, 4, 4), 3, 1.02, TypeError, "integer tensor"),
    (torch.tensor([0, 3]), 3, 1.02, ValueError, "outside"),
    (torch.tensor([0, 1]), 2, 1.0, ValueError, "c must be > 1"),
    (torch.zeros(0, dtype=torch.long), 2, 1.02, ValueError, "empty"),
])
def test_class_weights_reject_bad_inputs(masks, num_classes, c, error, match):
    with pytest.raises(error, match=match):
        class_weights(masks, num_classes, c)


def test_class_weight_check_fails_on_a_wrong_formula():
    from course_lib.checks import CheckFailed, verify
    from course_lib.exercises import REGISTRY

    def run(candidate):
        return verify(REGISTRY["B2.3"], candidate, torch.Generator().manual_seed(0))

    assert run(class_weights).startswith("matches")
    with pytest.raises(CheckFailed):  # inverse frequencies: unbounded, and not the paper's
        run(lambda masks, num_classes, c=1.02: 1 / (torch.bincount(masks.flatten(), minlength=num_classes) + 1.0))
    with pytest.raises(CheckFailed):  # c ignored
        run(lambda masks, num_classes, c=1.02: class_weights(masks, num_classes))


def test_realtime_table_gives_ratios_to_enet():
    results = {"ENet": {"params": 1e6, "flops": 2e9, "seconds": 0.01},
               "U-Net": {"params": 3e7, "flops": 2e11, "seconds": 0.2}}
    lines = realtime_table(results).splitlines()
    assert len(lines) == 4 and lines[-1].startswith("paper")
    assert lines[2].split()[-3:] == ["20.0x", "100.0x", "30.0x"]


# --- training and the course's checkpoint -----------------------------------------------------------

TINY = ENetRecipe(image_size=32, n_train=16, n_val=8, epochs=1, batch_size=4)


def _weights(model):
    return [t.clone() for t in model.state_dict().values()]


def test_train_enet_is_deterministic_and_validation_changes_no_weight():
    """Same seed, same weights (so the script reproduces the notebook's recipe); another seed, other weights;
    the per-epoch validation the notebook plots (and the script skips) changes no weight."""
    first = _weights(train_enet(TINY, plot=False, verbose=False))
    again = _weights(train_enet(TINY, plot=False, verbose=False, validate=False))
    other = _weights(train_enet(TINY, seed=1, plot=False, verbose=False))
    torch.manual_seed(0)
    untrained = _weights(ENet(C, dropout=TINY.dropout))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert any(not torch.equal(a, b) for a, b in zip(first, other))
    assert any(not torch.equal(a, b) for a, b in zip(first, untrained))


def test_enet_checkpoint_round_trip_keeps_the_weights_to_half_precision(tmp_path):
    torch.manual_seed(0)
    model = ENet(C, dropout=(0.0, 0.05)).eval()
    save_enet_checkpoint(model, tmp_path / "enet.pt", {"seconds": 1})
    loaded = load_enet_checkpoint(tmp_path / "enet.pt")
    assert (loaded.num_classes, loaded.meta, loaded.training) == (C, {"seconds": 1}, False)
    assert [m.p for m in loaded.modules() if isinstance(m, nn.Dropout2d)] == \
        [m.p for m in model.modules() if isinstance(m, nn.Dropout2d)]
    assert loaded.initial.conv.weight.is_contiguous(memory_format=torch.channels_last)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert b.dtype == a.dtype
        torch.testing.assert_close(b, a.half().float() if a.is_floating_point() else a, msg=name, atol=0, rtol=0)


def test_the_shipped_enet_checkpoint_is_the_full_recipe_and_scores_its_meta():
    """The meta records the full recipe and seed 0 (``train_enet(FULL_ENET_RECIPE)``) and the held-out IoU
    measured in float32 right after training; reloaded from half precision the network scores the same on the
    held-out shapes, to 0.002 (half precision moved it by +0.00001 when the shipped file was made)."""
    from dataclasses import asdict

    model = load_enet_checkpoint()
    meta = model.meta
    assert meta["recipe"] == asdict(FULL_ENET_RECIPE) and meta["seed"] == 0
    assert held_out_iou(model, FULL_ENET_RECIPE) == pytest.approx(meta["held_out_iou"], abs=0.002)
    assert meta["held_out_iou"]["mean"] >= 0.90  # benchmarks/enet.py's target
    n_params = sum(p.numel() for p in model.parameters())
    size = (REPO_ROOT / "course_lib" / ENET_CHECKPOINT).stat().st_size
    assert 2 * n_params < size < 4 * n_params  # half precision: under the 4 bytes a weight that float32 takes


def test_enet_checkpoint_is_missing_names_the_script(monkeypatch):
    import course_lib.recipes.enet as enet

    monkeypatch.setattr(enet, "ENET_CHECKPOINT", "checkpoints/enet/absent.pt")
    with pytest.raises(FileNotFoundError, match="scripts/train_enet_checkpoint.py"):
        enet.load_enet_checkpoint()
