"""load_pretrained: real torchvision loading code, exercised with a small stand-in file."""
import dataclasses
from urllib.error import URLError

import pytest
import torch
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

from course_lib.weights import cached_weights_path, load_pretrained, training_meta

WEIGHTS = SqueezeNet1_1_Weights.IMAGENET1K_V1


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_uses_the_file_in_the_hub_cache(torch_home, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    torch.manual_seed(123)
    stand_in = squeezenet1_1(weights=None).state_dict()
    path = cached_weights_path(WEIGHTS)
    assert path == torch_home / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    path.parent.mkdir(parents=True)
    torch.save(stand_in, path)

    model = load_pretrained(squeezenet1_1, WEIGHTS)

    assert model is not None
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, stand_in[name]), name


def test_offline_without_the_file_returns_none_and_says_so(torch_home, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")

    def builder(weights):
        raise AssertionError("must not try to download when COURSE_OFFLINE=1")

    assert load_pretrained(builder, WEIGHTS) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "offline fallback" in out and WEIGHTS.url in out


def test_failed_download_falls_back(torch_home, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "0")

    def builder(weights):
        raise URLError("no network")

    assert load_pretrained(builder, WEIGHTS) is None
    assert "URLError" in capsys.readouterr().out


def test_rejects_something_that_is_not_a_weights_enum():
    with pytest.raises(TypeError, match="weights enum"):
        load_pretrained(squeezenet1_1, "IMAGENET1K_V1")


def test_half_checkpoint_round_trip_builds_the_network_with_its_arguments(tmp_path):
    from torch import nn

    from course_lib.weights import load_half_checkpoint, save_half_checkpoint

    def build(width, norm=False):
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width) if norm else nn.Identity())

    torch.manual_seed(0)
    model = build(5, norm=True)
    model[1].num_batches_tracked += 7  # an integer buffer stays an integer
    save_half_checkpoint(tmp_path / "sub" / "net.pt", model, {"recipe": {"epochs": 3}}, width=5, norm=True)
    saved = torch.load(tmp_path / "sub" / "net.pt", weights_only=True)
    assert saved["state_dict"]["0.weight"].dtype == torch.float16 and saved["width"] == 5
    loaded = load_half_checkpoint(tmp_path / "sub" / "net.pt", build)
    assert not loaded.training and loaded.meta == {"recipe": {"epochs": 3}} and loaded[0].out_channels == 5
    assert loaded[1].num_batches_tracked.item() == 7 and loaded[1].num_batches_tracked.dtype == torch.int64
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        expected = a.half().float() if a.is_floating_point() else a
        torch.testing.assert_close(b, expected, msg=name)
    loaded_from_str = load_half_checkpoint(str(tmp_path / "sub" / "net.pt"), build)
    assert loaded_from_str.meta == loaded.meta
    with pytest.raises(ValueError, match="not network arguments"):
        save_half_checkpoint(tmp_path / "x.pt", model, {}, state_dict=1)


def test_training_meta_records_the_recipe_the_run_and_the_scores():
    @dataclasses.dataclass(frozen=True)
    class Recipe:
        epochs: int
        sizes: tuple = (1, 2)

    meta = training_meta(Recipe(3), 12.6, held_out={"mean": 0.9})
    assert meta == {"recipe": {"epochs": 3, "sizes": (1, 2)}, "seconds": 13, "threads": torch.get_num_threads(),
                    "torch": str(torch.__version__), "held_out": {"mean": 0.9}}
    with pytest.raises(TypeError):
        training_meta({"epochs": 3}, 1.0)  # a recipe is a dataclass
