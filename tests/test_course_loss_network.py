"""The course-trained loss network: the shipped file, its script (BatchNorm folding, resuming) and errors."""
import pytest
import torch
from script_module import load_script

import course_lib.models.vgg as vgg_module
from course_lib.models import vgg_features


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")


@pytest.fixture(scope="module")
def script():
    return load_script("train_loss_network")


def test_shipped_network_loads_with_vgg_names_and_quarter_widths():
    phi = vgg_features(["relu1_1", "relu4_2", "relu5_1"], source="course", verbose=False)
    out = phi(torch.rand(1, 3, 64, 64))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "relu1_1": (1, 16, 64, 64), "relu4_2": (1, 128, 8, 8), "relu5_1": (1, 128, 4, 4)}
    assert phi.source == "course" and "course-trained" in phi.source_description
    assert not any(p.requires_grad for p in phi.parameters())
    saved = vgg_module.load_course_checkpoint()
    assert vgg_module.COURSE_CHECKPOINT.stat().st_size < 3e6
    assert saved["meta"]["train_seconds"] > 0 and "astronaut" not in saved["meta"]["classes"]


def test_folded_batchnorm_gives_the_trained_network(script, tmp_path, monkeypatch):
    """The shipped plain VGG computes what the classifier with BatchNorm (eval mode) computes."""
    torch.manual_seed(0)
    model = script.Classifier(3)
    for module in model.features:  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    stand_in = tmp_path / "stand_in.pt"
    torch.save(dict(arch="vgg19", divisor=script.DIVISOR, mean=vgg_module.IMAGENET_MEAN, std=vgg_module.IMAGENET_STD,
                    state_dict={k: v.float() for k, v in script.folded_state_dict(model).items()},
                    meta=dict(task="test", steps=1, train_accuracy=0.5)), stand_in)
    monkeypatch.setattr(vgg_module, "COURSE_CHECKPOINT", stand_in)
    phi = vgg_features(["relu3_2"], source="course", verbose=False)
    x = torch.rand(2, 3, 32, 32)
    expected = model.features[: list(dict(model.features.named_children())).index("relu3_2") + 1](
        (x - model.mean) / model.std)
    torch.testing.assert_close(phi(x)["relu3_2"], expected, rtol=1e-2, atol=1e-2)  # half-precision weights


def test_a_stopped_run_resumes_and_writes_the_checkpoint(script, tmp_path, monkeypatch):
    monkeypatch.setattr(script, "IMAGE_SIZE", 32)  # small drawings keep the test fast
    out, state = tmp_path / "net.pt", tmp_path / "state.pt"
    assert script.train(out, state, steps=2, minutes=0, batch_size=2, lr=1e-3, seed=0) is None
    assert state.is_file() and not out.exists()
    meta = script.train(out, state, steps=2, minutes=10, batch_size=2, lr=1e-3, seed=0, log_every=1)
    saved = vgg_module.load_course_checkpoint(out)
    assert meta["steps"] == 2 and saved["meta"] == meta
    assert all(v.dtype == torch.float16 for v in saved["state_dict"].values())
    assert set(saved["state_dict"]) == {f"{n}.{p}" for n in vgg_module.vgg_layer_names() if n.startswith("conv")
                                        for p in ("weight", "bias")}


def test_missing_or_foreign_file_and_wrong_arch_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_module, "COURSE_CHECKPOINT", tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="scripts/train_loss_network.py"):
        vgg_features(["relu1_1"], source="course", verbose=False)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a course loss-network checkpoint"):
        vgg_module.load_course_checkpoint(foreign)
    with pytest.raises(ValueError, match="VGG-19 trained with average pooling"):
        vgg_features(["relu1_1"], source="course", arch="vgg16", verbose=False)
