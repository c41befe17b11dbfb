"""The small Mask R-CNN, its teaching functions (held against torchvision's own), COCO AP, and the
pretrained model's loading code (with a small stand-in file)."""
import pytest
import torch
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
from torchvision.models.detection.roi_heads import maskrcnn_loss, project_masks_on_boxes
from torchvision.ops.poolers import LevelMapper

from course_lib.data import ShapesDataset
from course_lib.losses.detection import mask_loss, total_loss
from course_lib.metrics import coco_average_precision
from course_lib.models.mask_rcnn import (CELL_CENTRE, MaskHeadOnly, cell_gradient, fpn_level,
                                         mask_rcnn_batch, mask_target, pretrained_mask_rcnn, small_mask_rcnn)
from course_lib.recipes.mask_rcnn import TrainingLosses, ablation_summary, evaluate_mask_head, train_mask_head
from course_lib.metrics import mean_average_precision
from course_lib.ops.receptive_field import support_centre
from course_lib.weights import cached_weights_path


@pytest.fixture(scope="module")
def shapes():
    return ShapesDataset(6, size=64, seed=3, task="instance", cache=False)


def test_training_gives_the_five_losses_and_gradients(shapes):
    torch.manual_seed(0)
    model = small_mask_rcnn(image_size=64)
    batch, _ = mask_rcnn_batch([shapes[i] for i in range(2)])
    losses = TrainingLosses(model.train())(batch)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    total_loss(losses).backward()
    assert model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad.abs().sum() > 0
    assert model.backbone.body.stem[0].weight.grad.abs().sum() > 0


def test_inference_gives_masks_of_the_image_size(shapes):
    model = small_mask_rcnn(image_size=64).eval()
    with torch.no_grad():
        (out,) = model([shapes[0][0]])
    assert out["masks"].shape[1:] == (1, 64, 64)
    assert len(out["boxes"]) == len(out["labels"]) == len(out["scores"]) == len(out["masks"]) <= 20


@pytest.mark.parametrize("images, message", [
    ([torch.rand(64, 64, 3)], r"images\[0\] must be a \(3, H, W\) tensor, got \(64, 64, 3\) \(channels last"),
    ([torch.rand(64, 64)], r"must be a \(3, H, W\) tensor, got \(64, 64\)"),
    ([torch.rand(1, 3, 64, 64)], r"must be a \(3, H, W\) tensor, got \(1, 3, 64, 64\)"),
    ([torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)], "float in"),
    ([], "non-empty list"),
])
def test_bad_images_are_refused_clearly(images, message):
    model = small_mask_rcnn(image_size=64).eval()
    with pytest.raises((ValueError, TypeError), match=message):
        model(images)


def test_bad_targets_are_refused_clearly(shapes):
    model = small_mask_rcnn(image_size=64).train()
    image, target = mask_rcnn_batch([shapes[0]])[0]
    with pytest.raises(ValueError, match="training needs targets.*an empty list"):
        model(image, [])
    with pytest.raises(ValueError, match="training needs targets"):
        model(image)
    with pytest.raises(ValueError, match="1 targets for 2 images"):
        model(image * 2, target)
    flipped = dict(target[0], boxes=target[0]["boxes"][:, [2, 1, 0, 3]])
    with pytest.raises(ValueError, match=r"has no area .*x2 > x1"):
        model(image, [flipped])
    with pytest.raises(ValueError, match="missing \\['masks'\\]"):
        model(image, [{"boxes": target[0]["boxes"], "labels": target[0]["labels"]}])


def test_fpn_level_is_torchvisions_level_mapper():
    generator = torch.Generator().manual_seed(0)
    corner = torch.rand(200, 2, generator=generator) * 50
    boxes = torch.cat([corner, corner + 1 + torch.rand(200, 2, generator=generator) * 900], 1)
    boxes[:4, 2:] = boxes[:4, :2] + torch.tensor([[224.0], [112.0], [448.0], [56.0]])  # on the boundaries
    for k_min, k_max, scale in ((2, 5, 224), (2, 4, 64), (3, 6, 100)):
        expected = LevelMapper(k_min, k_max, canonical_scale=scale)([boxes]) + k_min
        assert torch.equal(fpn_level(boxes, k_min, k_max, canonical_scale=scale), expected)
    assert fpn_level(boxes[:4]).tolist() == [4, 3, 5, 2]


def test_mask_target_and_loss_are_torchvisions(shapes):
    _, target = shapes[1]
    masks, boxes = target["masks"].as_subclass(torch.Tensor), target["boxes"].as_subclass(torch.Tensor)
    proposals = boxes + torch.tensor([1.5, -2.0, 3.0, 0.5])
    expected = project_masks_on_boxes(masks, proposals, torch.arange(len(boxes)), 28)
    ours = torch.stack([mask_target(m, b) for m, b in zip(masks, proposals)])
    torch.testing.assert_close(ours, expected)

    logits = torch.randn(len(boxes), 4, 28, 28)
    labels = target["labels"]
    torch.testing.assert_close(mask_loss(logits, labels, expected),
                               maskrcnn_loss(logits, [proposals], [masks], [labels], [torch.arange(len(boxes))]))


def _perfect(target):
    return {"boxes": target["boxes"], "labels": target["labels"], "scores": torch.linspace(1, 0.5, len(target["boxes"])),
            "masks": target["masks"][:, None].float()}


def test_coco_ap_of_the_ground_truth_is_one(shapes):
    targets = [shapes[i][1] for i in range(len(shapes))]
    for iou_type in ("segm", "bbox"):
        assert coco_average_precision([_perfect(t) for t in targets], targets, iou_type) == \
            {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}


def test_coco_ap50_agrees_with_notebook_08s_map(shapes):
    """COCO interpolates precision at 101 recall points, notebook 08 at every point: close, not equal."""
    generator = torch.Generator().manual_seed(0)
    targets = [shapes[i][1] for i in range(len(shapes))]
    predictions = []
    for t in targets:
        boxes = t["boxes"].as_subclass(torch.Tensor)
        shifted = boxes + torch.randn(boxes.shape, generator=generator) * 4  # some hits, some misses
        labels = t["labels"].clone()
        labels[torch.rand(len(labels), generator=generator) < 0.2] = 1  # some wrong classes
        predictions.append({"boxes": shifted, "labels": labels, "scores": torch.rand(len(boxes), generator=generator)})
    coco = coco_average_precision(predictions, targets, "bbox")["AP50"]
    hand = mean_average_precision(predictions, [{k: t[k].as_subclass(torch.Tensor) for k in ("boxes", "labels")}
                                                for t in targets])
    assert 0.2 < hand < 0.95
    assert coco == pytest.approx(hand, abs=0.02)


def test_coco_ap_refuses_mismatched_lists(shapes):
    with pytest.raises(ValueError, match="1 predictions for 2 targets"):
        coco_average_precision([{}], [shapes[0][1], shapes[1][1]])
    with pytest.raises(ValueError, match="iou_type"):
        coco_average_precision([], [], "mask")


@pytest.mark.parametrize("stride", [8, 16, 32])
@pytest.mark.parametrize("pooling, loss", [("RoIAlign", "sigmoid"), ("RoIAlign, aligned=True", "sigmoid"),
                                           ("RoIPool", "sigmoid"), ("RoIAlign", "softmax")])
def test_mask_head_ablation_runs(shapes, stride, pooling, loss):
    torch.manual_seed(0)
    model = MaskHeadOnly(stride, pooling, loss)
    assert model.features(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 64 // stride, 64 // stride)
    losses = train_mask_head(model, shapes, steps=2, batch_size=2)
    assert len(losses) == 2 and all(l > 0 for l in losses)
    result = evaluate_mask_head(model, shapes)
    assert set(result) == {"mean_iou", "iou75"} and 0 <= result["iou75"] <= result["mean_iou"] + 1


def test_ablation_summary_is_mean_and_sample_std_over_seeds_with_paired_gaps():
    rows = [dict(stride=8, pooling=pooling, mask_loss="sigmoid", seed=seed, mean_iou=value)
            for pooling, values in (("RoIAlign", (0.7, 0.8, 0.9)), ("RoIPool", (0.6, 0.8, 0.7)))
            for seed, value in enumerate(values)]
    rows.append(dict(stride=8, pooling="RoIAlign", mask_loss="softmax", seed=0, mean_iou=0.2))
    summary = ablation_summary(rows)
    assert summary[8, "RoIAlign", "sigmoid"] == pytest.approx({"mean": 0.8, "std": 0.1, "n": 3})
    assert summary[8, "RoIAlign - RoIPool", "sigmoid"] == pytest.approx({"mean": 0.1, "std": 0.1, "n": 3})  # 0.1, 0, 0.2
    assert summary[8, "RoIAlign", "softmax"] == {"mean": 0.2, "std": 0.0, "n": 1}
    assert (8, "RoIAlign - RoIPool", "softmax") not in summary


@pytest.mark.parametrize("stride", [8, 16, 32])
def test_a_backbone_cell_sits_where_the_roialign_of_the_ablation_reads_it(stride):
    """The input gradient of cell i is centred on pixel coordinate i * stride + 1/2 (CELL_CENTRE),
    and "RoIAlign" pools a map of its cells' pixel centres into the bins' pixel centres, while
    aligned=True reads it (stride - 1) / 2 pixels off."""
    gradient, i = cell_gradient(stride)
    assert support_centre(gradient) == (i * stride + CELL_CENTRE,) * 2

    rows, columns = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    centres = torch.stack([columns * stride + CELL_CENTRE, rows * stride + CELL_CENTRE])[None]
    box = torch.tensor([[1.3, 2.1, 5.6, 6.4]]) * stride
    bins = (torch.arange(14) + 0.5) / 14
    expected_x, expected_y = box[0, 0] + bins * (box[0, 2] - box[0, 0]), box[0, 1] + bins * (box[0, 3] - box[0, 1])
    for pooling, shift in (("RoIAlign", 0.0), ("RoIAlign, aligned=True", (stride - 1) / 2)):
        pooled = MaskHeadOnly(stride, pooling).pool(centres, [box])[0]
        torch.testing.assert_close(pooled[0], (expected_x - shift).expand(14, -1), atol=1e-4, rtol=0)
        torch.testing.assert_close(pooled[1], (expected_y - shift)[:, None].expand(-1, 14), atol=1e-4, rtol=0)


def test_ablation_summary_pairs_every_roialign_with_roipool():
    rows = [dict(stride=8, pooling=pooling, mask_loss="sigmoid", seed=seed, mean_iou=value + seed)
            for pooling, value in (("RoIAlign", 0.5), ("RoIAlign, aligned=True", 0.25), ("RoIPool", 0.0))
            for seed in (0, 1)]
    summary = ablation_summary(rows)
    assert summary[8, "RoIAlign - RoIPool", "sigmoid"] == pytest.approx({"mean": 0.5, "std": 0.0, "n": 2})
    assert summary[8, "RoIAlign, aligned=True - RoIPool", "sigmoid"] == pytest.approx({"mean": 0.25, "std": 0.0, "n": 2})


def test_mask_head_refuses_bad_settings():
    with pytest.raises(ValueError, match="power of two"):
        MaskHeadOnly(12)
    with pytest.raises(ValueError, match="pooling must be one of"):
        MaskHeadOnly(8, "max")


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path


def test_pretrained_model_loads_the_file_in_the_hub_cache(torch_home):
    torch.manual_seed(123)
    stand_in = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    path = cached_weights_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1)
    assert path == torch_home / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    path.parent.mkdir(parents=True)
    torch.save(stand_in, path)
    model = pretrained_mask_rcnn()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, stand_in[name]), name


def test_pretrained_model_offline_without_the_file_says_so_in_one_line(torch_home, capsys):
    assert pretrained_mask_rcnn() is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "offline fallback" in out and "maskrcnn_resnet50_fpn_coco" in out


def test_stage_seconds_times_every_stage_of_one_inference(shapes):
    from course_lib.recipes.mask_rcnn import stage_seconds

    times = stage_seconds(small_mask_rcnn(image_size=64), [shapes[0][0].as_subclass(torch.Tensor)], repeats=1)
    assert list(times) == ["transform", "backbone", "rpn", "roi_heads", "postprocess"]
    assert all(0 < t < 10 for t in times.values())


def test_overlaps_other_class_flags_boxes_that_meet_a_box_of_another_class():
    class Two:
        def __iter__(self):
            boxes = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30], [25, 25, 35, 35]])
            yield None, {"boxes": boxes, "labels": torch.tensor([1, 2, 3, 3])}   # 0-1 meet, 2-3 same class
            yield None, {"boxes": torch.tensor([[0.0, 0, 10, 10], [10, 0, 20, 10]]), "labels": torch.tensor([1, 2])}
    from course_lib.recipes.mask_rcnn import overlaps_other_class
    assert overlaps_other_class(Two()).tolist() == [True, True, False, False, False, False]  # touching is no overlap


def test_instance_ious_summarise_to_evaluate_mask_head():
    from course_lib.models.mask_rcnn import MaskHeadOnly
    from course_lib.recipes.mask_rcnn import evaluate_mask_head, instance_ious
    data = list(ShapesDataset(4, 128, seed=3, task="instance"))
    torch.manual_seed(0)
    model = MaskHeadOnly(8)
    ious = instance_ious(model, data)
    assert len(ious) == sum(len(t["labels"]) for _, t in data)
    summary = evaluate_mask_head(model, data)
    assert summary["mean_iou"] == pytest.approx(float(ious.mean()))
    assert summary["iou75"] == pytest.approx(float((ious >= 0.75).float().mean()))


def test_a_softmax_head_is_read_by_its_class_or_as_any_class():
    """Class readout: 1 where the box's class wins the pixel (argmax). Any class: 1 - P(background),
    which is high where the object is even when another class wins it."""
    from course_lib.models.mask_rcnn import MaskHeadOnly
    # one RoI of class 1, two pixels: background, class 1, class 2 scores (logits of probabilities)
    probabilities = torch.tensor([[0.1, 0.5, 0.4, 0.0], [0.4, 0.3, 0.3, 0.0]]).clamp_min(1e-9)
    logits = probabilities.log().T.reshape(1, 4, 1, 2)
    head = MaskHeadOnly(8, mask_loss="softmax")
    torch.testing.assert_close(head.masks(logits, torch.tensor([1])), torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(head.masks(logits, torch.tensor([2])), torch.tensor([[[0.0, 0.0]]]))
    torch.testing.assert_close(head.masks(logits, torch.tensor([2]), any_class=True), torch.tensor([[[0.9, 0.6]]]))
    with pytest.raises(ValueError, match="softmax head"):
        MaskHeadOnly(8).masks(logits, torch.tensor([1]), any_class=True)


def test_checkpoint_round_trip_keeps_the_weights_to_half_precision(tmp_path):
    from course_lib.models.mask_rcnn import small_mask_rcnn
    from course_lib.recipes.mask_rcnn import load_mask_rcnn_checkpoint, save_mask_rcnn_checkpoint
    torch.manual_seed(0)
    model = small_mask_rcnn()
    save_mask_rcnn_checkpoint(model, tmp_path / "m.pt", {"image_size": 128, "seconds": 0})
    loaded = load_mask_rcnn_checkpoint(tmp_path / "m.pt")
    assert not loaded.training and loaded.meta == {"image_size": 128, "seconds": 0}
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(b, a.half().to(a.dtype) if a.is_floating_point() else a, msg=name)


def test_the_shipped_checkpoint_is_the_full_recipe_and_detects_held_out_shapes():
    """Its meta records the full recipe and the held-out AP measured after training; reloaded from half
    precision it still finds the shapes of a few held-out images."""
    from course_lib.recipes.mask_rcnn import FULL_RECIPE, instance_ap, load_mask_rcnn_checkpoint
    model = load_mask_rcnn_checkpoint()
    assert model.meta["recipe"]["epochs"] == FULL_RECIPE.epochs
    assert model.meta["held_out_ap"]["mask"]["AP50"] > 0.8
    ap = instance_ap(model, ShapesDataset(8, FULL_RECIPE.image_size, seed=1, task="instance"))
    assert ap["mask"]["AP50"] > 0.7
