"""course_lib.viz: figures with the right axes, overlays that keep the background, clear errors."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib.viz import (PALETTE, colorize_mask, legend_handles, overlay_mask, plot_history,  # noqa: E402
                            show_feature_maps, show_images)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image(h=12, w=10, seed=0):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def _mask(h=12, w=10):
    mask = torch.zeros(h, w, dtype=torch.long)
    mask[2:5, 2:5], mask[7:10, 1:4], mask[6:9, 6:9] = 1, 2, 3
    return mask


# --- show_images -------------------------------------------------------------------------------------

def test_show_images_grid_of_mixed_inputs_with_titles():
    images = [_image(), _image()[0], _image()[:1], _image().permute(1, 2, 0).numpy(), _mask()]
    fig = show_images(images, titles=list("abcde"), ncols=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 5  # 2x3 grid, the spare axes removed
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert all(ax.title.get_fontsize() >= 12 for ax in fig.axes)
    assert fig.get_layout_engine() is not None


def test_show_images_clamps_floats_and_splits_a_batch():
    fig = show_images(torch.stack([_image() * 3 - 1, _image()]))
    assert len(fig.axes) == 2
    data = fig.axes[0].get_images()[0].get_array()
    assert data.min() >= 0 and data.max() <= 1 and data.shape == (12, 10, 3)


@pytest.mark.parametrize("images, titles, match", [
    ([], None, "empty"),
    ([torch.rand(5, 8, 8)], None, "5 channels"),
    ([torch.rand(8)], None, r"\(C, H, W\)"),
    ([np.random.rand(8, 8, 2)], None, r"\(H, W, 1\|3\)"),
    ([torch.rand(3, 8, 8)] * 2, ["one"], "2 images but 1 titles"),
])
def test_show_images_rejects_bad_shapes(images, titles, match):
    with pytest.raises(ValueError, match=match):
        show_images(images, titles=titles)


# --- overlay_mask ------------------------------------------------------------------------------------

def test_overlay_keeps_background_and_blends_class_colours():
    image, mask = _image(), _mask()
    out = overlay_mask(image, mask, alpha=0.4)
    assert out.shape == (3, 12, 10) and out.dtype == torch.float32
    background = mask == 0
    assert torch.equal(out[:, background], image[:, background])
    for k in (1, 2, 3):
        colour = torch.from_numpy(PALETTE[k - 1])[:, None]
        expected = 0.6 * image[:, mask == k] + 0.4 * colour
        assert torch.allclose(out[:, mask == k], expected, atol=1e-6)
    assert len({tuple(PALETTE[k]) for k in range(len(PALETTE))}) == len(PALETTE)


def test_overlay_on_grey_and_numpy_inputs():
    grey = _image()[0]
    out = overlay_mask(grey.numpy(), _mask().numpy())
    assert out.shape == (3, 12, 10)
    assert torch.equal(out[:, _mask() == 0], grey[_mask() == 0].expand(3, -1))


def test_colorize_mask_and_legend():
    rgb = colorize_mask(_mask())
    assert rgb.shape == (3, 12, 10) and rgb[:, 0, 0].sum() == 0
    assert torch.allclose(rgb[:, 3, 3], torch.from_numpy(PALETTE[0]))
    handles = legend_handles(["background", "circle", "square"])
    assert [h.get_label() for h in handles] == ["circle", "square"]


@pytest.mark.parametrize("image, mask, kwargs, match", [
    (_image(), _mask(12, 9), {}, r"mask is \(12, 9\)"),
    (_image(), _mask().float(), {}, "integer"),
    (_image(), _mask(), {"num_classes": 3}, "num_classes=3"),
    (_image(), _mask(), {"alpha": 1.5}, "alpha"),
    (_mask(), _mask(), {}, "image first"),
    (torch.rand(4, 12, 10), _mask(), {}, "4 channels"),
])
def test_overlay_rejects_bad_inputs(image, mask, kwargs, match):
    with pytest.raises(ValueError, match=match):
        overlay_mask(image, mask, **kwargs)


# --- feature maps and history ------------------------------------------------------------------------

def test_show_feature_maps_first_n_channels_each_normalised():
    features = torch.randn(1, 20, 6, 6) * torch.arange(20.0)[:, None, None]  # channel 0 is constant 0
    fig = show_feature_maps(features, n=12)
    assert isinstance(fig, Figure) and len(fig.axes) == 12
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert shown[0].max() == 0
    assert all(a.min() == pytest.approx(0) and a.max() == pytest.approx(1) for a in shown[1:])
    assert len(show_feature_maps(features[0, :5]).axes) == 5


@pytest.mark.parametrize("features, kwargs, match", [
    (torch.rand(2, 4, 6, 6), {}, "batch of 2"),
    (torch.rand(6, 6), {}, r"\(C, H, W\)"),
    (torch.rand(4, 6, 6), {"n": 0}, "positive int"),
])
def test_show_feature_maps_rejects_bad_inputs(features, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_feature_maps(features, **kwargs)


def test_plot_history_panels():
    history = {"step_loss": [1.0, 0.8, 0.5, 0.4], "train_loss": [0.9, 0.45], "val_loss": [0.8, 0.5],
               "val_miou": [0.3, 0.6]}
    fig = plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss per step", "loss per epoch", "validation metrics"]
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 2  # raw + smoothed
    assert len(plot_history(history, keys=["val_miou"]).axes) == 1
    assert len(plot_history({**history, "val_loss": []}).axes) == 3
    assert plot_history(history, title="ENet").get_suptitle() == "ENet"
    # one epoch is a dot, not a curve: by default only the steps are drawn, unless asked for or there are no steps
    one_epoch = {"step_loss": [1.0, 0.8], "train_loss": [0.9], "val_loss": [0.8], "val_miou": [0.3]}
    assert [ax.get_title() for ax in plot_history(one_epoch).axes] == ["loss per step"]
    assert len(plot_history(one_epoch, keys=["step_loss", "val_miou"]).axes) == 2
    assert [ax.get_title() for ax in plot_history({"train_loss": [0.9]}).axes] == ["loss per epoch"]


def test_plot_history_rejects_bad_inputs():
    with pytest.raises(TypeError, match="dict"):
        plot_history([0.1, 0.2])
    with pytest.raises(ValueError, match="not in history"):
        plot_history({"step_loss": [1.0]}, keys=["val_miou"])
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"step_loss": []})


def test_paper_table_aligns_three_columns_under_their_headers():
    from course_lib.viz import paper_table

    text = paper_table([("mean IoU", "62.7 (Table 2)", "0.519"), ("boundary F1, FCN-8s", "-", "0.860")])
    lines = text.splitlines()
    assert len(lines) == 3 and "paper says" in lines[0] and "we measured" in lines[0]
    column = lines[0].index("paper says")
    assert lines[1][column:].startswith("62.7") and lines[2][column:].startswith("-")
    assert lines[1].endswith("0.519") and lines[2].index("0.860") == lines[1].index("0.519")


@pytest.mark.parametrize("rows", [[], [("a", "b")], [("a", "b", 0.5)]])
def test_paper_table_says_what_rows_it_expects(rows):
    from course_lib.viz import paper_table

    with pytest.raises(ValueError, match="string triples"):
        paper_table(rows)


def test_show_source_displays_the_functions_code(monkeypatch):
    import IPython.display

    from course_lib.viz import show_source

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_source(_mask, _image)
    assert len(shown) == 1 and shown[0].data.startswith("```python\ndef _mask(h=12, w=10):")
    assert "def _image(" in shown[0].data and shown[0].data.endswith("```")
    with pytest.raises(TypeError, match="functions or classes"):
        show_source("not a function")


def test_mean_half_range_is_the_mean_and_half_the_range():
    from course_lib.viz import mean_half_range

    assert mean_half_range([0.91, 0.93, 0.92]) == "0.920 ± 0.010"
    assert mean_half_range([2, 2], digits=1) == "2.0 ± 0.0"
    with pytest.raises(ValueError, match="at least one"):
        mean_half_range([])


def test_show_row_draws_into_given_axes_or_a_new_row(monkeypatch):
    from course_lib.viz import show_row

    fig, axes = plt.subplots(1, 3)
    show_row([_image(), _mask(), _image(seed=1)], ["a", "b", "c"], axes=axes)
    assert [ax.get_title() for ax in axes] == ["a", "b", "c"] and all(len(ax.images) == 1 for ax in axes)
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    show_row([_image(), _image(seed=2)], ["x", "y"], size=2.0)
    assert len(shown) == 1 and tuple(shown[0].get_size_inches()) == (4.0, 2.6)
    show_row([_image(seed=i) for i in range(7)], size=3.0)  # wraps at five a row, 10 inches wide
    assert len(shown) == 2 and tuple(shown[1].get_size_inches()) == (10.0, 2 * (2.0 + 0.6))
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        show_row([_image(), _image()], ["x"])
    with pytest.raises(ValueError, match="3 images but 2 axes"):
        show_row([_image()] * 3, axes=axes[:2])
