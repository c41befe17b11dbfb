"""scripts/train_style_checkpoint.py: the style-weight ramp, and a two-step run end to end."""
import pytest
import torch
from script_module import load_script

from course_lib.data import HELD_OUT_IMAGES
from course_lib.models.transformer_net import TransformerNet


@pytest.fixture(scope="module")
def script():
    return load_script("train_style_checkpoint")


def test_style_weight_ramps_geometrically_from_5_percent(script):
    steps, ramp, weight = 1000, 0.3, 2.0
    at = [script.style_weight_at(step, steps, weight, ramp) for step in range(1, steps + 1)]
    assert at[0] == pytest.approx(weight * 0.05 ** (1 - 1 / 300))  # 5 % at step 0, one step in
    assert at[149] == pytest.approx(weight * 0.05 ** 0.5)          # halfway: the geometric mean
    assert at[299:] == [weight] * 701                               # full weight from 30 % on
    assert all(a < b for a, b in zip(at[:299], at[1:300]))
    assert script.style_weight_at(1, steps, weight, ramp=0) == weight


def test_two_steps_write_a_checkpoint_that_loads(script, tmp_path, capsys):
    out = tmp_path / "gravel.pt"
    meta = script.train(out, style="gravel", steps=2, size=32, width=4, batch_size=1, content_weight=1.0,
                        style_weight=1.0, tv_weight=10.0, lr=1e-3, source="offline", seed=0,
                        style_ramp=0.3, log_every=1)
    assert "step 2/2" in capsys.readouterr().out
    saved = torch.load(out, weights_only=True)
    assert saved["meta"] == meta and meta["steps"] == 2 and "gravel" not in meta["content_images"]
    assert not set(HELD_OUT_IMAGES) & set(meta["content_images"])  # notebook 07 measures on them
    assert all(v.dtype == torch.float16 for v in saved["state_dict"].values())
    assert saved["noise_maps"] == script.NOISE_MAPS == meta["noise_maps"] > 0
    net = TransformerNet(width=saved["width"], noise_maps=saved["noise_maps"])
    net.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
