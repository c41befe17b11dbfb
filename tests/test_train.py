"""course_lib.train.fit: learning, modes, devices, history, exact resume, and clear errors."""
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from course_lib.config import seed_everything
from course_lib.train import _amp_dtype, _in_notebook as in_notebook, evaluate, fit, predict


class NoisyDataset(Dataset):
    """Regression y = x @ w, with augmentation noise drawn from numpy and Python's random."""

    def __init__(self, n=32):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])[:, None]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = 0.01 * float(np.random.randn()) + 0.01 * random.random()
        return self.x[i] + noise, self.y[i]


def _model():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def _loaders(batch_size=8):
    train = DataLoader(NoisyDataset(32), batch_size=batch_size, shuffle=True)
    val = DataLoader(NoisyDataset(16), batch_size=batch_size)
    return train, val


def test_fit_learns_and_records_history(capsys):
    seed_everything(0)
    model, (train, val) = _model(), _loaders()
    history = fit(model, nn.MSELoss(), train, val, epochs=3, lr=1e-2,
                  metrics={"mae": lambda out, y: (out - y).abs().mean()})
    assert set(history) == {"step_loss", "train_loss", "val_loss", "val_mae"}
    assert len(history["step_loss"]) == 3 * 4 and all(len(history[k]) == 3 for k in history if k != "step_loss")
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["train_loss"][0] == pytest.approx(np.mean(history["step_loss"][:4]))  # equal batches
    assert not model.training  # left in eval mode, ready for predictions
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and "val_mae" in lines[-1]  # outside a notebook: one line per epoch
    assert not in_notebook()


def test_verbose_false_turns_the_epoch_lines_off_and_trains_the_same(capsys):
    histories = []
    for verbose in (True, False):
        seed_everything(0)
        model, (train, val) = _model(), _loaders()
        histories.append(fit(model, nn.MSELoss(), train, val, epochs=2, lr=1e-2, verbose=verbose))
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
        assert len(lines) == (2 if verbose else 0)
    assert histories[0] == histories[1]
    with pytest.raises(TypeError, match="verbose must be True or False"):
        fit(_model(), nn.MSELoss(), _loaders()[0], verbose="no")


def test_validation_runs_in_eval_mode_without_grad_and_training_in_train_mode():
    seen = []

    class Spy(nn.Linear):
        def forward(self, x):
            seen.append((self.training, torch.is_grad_enabled()))
            return super().forward(x)

    x, y = torch.randn(8, 4), torch.randn(8, 2)
    model = Spy(4, 2).eval()  # fit must switch it to train mode itself
    fit(model, nn.MSELoss(), DataLoader(TensorDataset(x, y), batch_size=4),
        DataLoader(TensorDataset(x, y), batch_size=8), epochs=2, plot=False)
    assert seen == [(True, True)] * 2 + [(False, False)] + [(True, True)] * 2 + [(False, False)]


def test_default_device_is_the_models_and_batches_follow_it():
    devices = []

    class Where(nn.Linear):
        def forward(self, x):
            devices.append((x.device, self.weight.device))
            return super().forward(x)

    loader = DataLoader(TensorDataset(torch.randn(4, 3), torch.randn(4, 1)), batch_size=2)
    fit(Where(3, 1), nn.MSELoss(), loader, epochs=1)
    assert devices == [(torch.device("cpu"), torch.device("cpu"))] * 2
    model = Where(3, 1)
    fit(model, nn.MSELoss(), loader, epochs=1, device="cpu", amp=True)  # amp is a no-op off CUDA
    assert next(model.parameters()).dtype == torch.float32


def test_resume_gives_bit_identical_weights_and_history(tmp_path):
    seed_everything(0)
    model, (train, val) = _model(), _loaders()
    straight = fit(model, nn.MSELoss(), train, val, epochs=4, lr=1e-2)
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    path = tmp_path / "run.pt"
    seed_everything(0)
    model, (train, val) = _model(), _loaders()
    fit(model, nn.MSELoss(), train, val, epochs=2, lr=1e-2, checkpoint=path)
    seed_everything(123)  # a fresh session: other seeds, new objects, new weights
    model, (train, val) = _model(), _loaders()
    resumed = fit(model, nn.MSELoss(), train, val, epochs=4, lr=1e-2, checkpoint=path, resume=True)

    assert all(torch.equal(expected[k], v) for k, v in model.state_dict().items())
    assert resumed == straight
    assert torch.load(path, weights_only=True)["epoch"] == 4
    with pytest.raises(ValueError, match="same metrics"):
        fit(model, nn.MSELoss(), train, val, epochs=5, checkpoint=path, resume=True,
            metrics={"mae": lambda out, y: 0.0})


def _one_cycle(model, total_steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=total_steps)


def test_scheduler_steps_once_per_batch_and_resumes_exactly(tmp_path):
    seed_everything(0)
    model, (train, val) = _model(), _loaders()
    optimizer, scheduler = _one_cycle(model, 4 * len(train))
    straight = fit(model, nn.MSELoss(), train, val, epochs=4, optimizer=optimizer, scheduler=scheduler)
    assert scheduler.last_epoch == 4 * len(train) == len(straight["step_loss"])
    _, reference = _one_cycle(_model(), 4 * len(train))  # the same schedule, stepped by hand
    for _ in range(4 * len(train)):
        reference.optimizer.step()
        reference.step()
    assert optimizer.param_groups[0]["lr"] == reference.get_last_lr()[0] < 1e-3
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    path = tmp_path / "run.pt"
    seed_everything(0)
    model, (train, val) = _model(), _loaders()
    optimizer, scheduler = _one_cycle(model, 4 * len(train))
    fit(model, nn.MSELoss(), train, val, epochs=2, optimizer=optimizer, scheduler=scheduler, checkpoint=path)
    seed_everything(123)
    model, (train, val) = _model(), _loaders()
    optimizer, scheduler = _one_cycle(model, 4 * len(train))
    resumed = fit(model, nn.MSELoss(), train, val, epochs=4, optimizer=optimizer, scheduler=scheduler,
                  checkpoint=path, resume=True)
    assert resumed == straight
    assert all(torch.equal(expected[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="needs the optimizer"):
        fit(model, nn.MSELoss(), train, epochs=1, scheduler=scheduler)
    fit(model, nn.MSELoss(), train, epochs=1, checkpoint=tmp_path / "plain.pt")  # saved without one
    optimizer, scheduler = _one_cycle(model, 4 * len(train))
    with pytest.raises(ValueError, match="no scheduler state"):
        fit(model, nn.MSELoss(), train, epochs=2, optimizer=optimizer, scheduler=scheduler,
            checkpoint=tmp_path / "plain.pt", resume=True)


def test_resume_with_a_loader_generator_and_a_fresh_start(tmp_path):
    def run(epochs, resume, seed):
        torch.manual_seed(seed)
        loader = DataLoader(NoisyDataset(24), batch_size=8, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        model = _model()
        fit(model, nn.MSELoss(), loader, epochs=epochs, checkpoint=tmp_path / "g.pt", resume=resume)
        return model.state_dict()

    np.random.seed(0), random.seed(0)
    first = run(1, resume=True, seed=0)  # no file yet: trains from scratch
    assert (tmp_path / "g.pt").exists()
    two = run(2, resume=True, seed=5)
    np.random.seed(0), random.seed(0)
    (tmp_path / "g.pt").unlink()
    straight = run(2, resume=False, seed=0)
    assert all(torch.equal(two[k], straight[k]) for k in two)
    assert not all(torch.equal(first[k], straight[k]) for k in first)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs must be an int >= 1"),
    ({"epochs": 1.5}, ValueError, "epochs"),
    ({"train_loader": DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0, 1)))}, ValueError, "empty"),
    ({"train_loader": None}, TypeError, "iterable"),
    ({"loss_fn": nn.MSELoss(reduction="none")}, ValueError, "scalar"),
    ({"loss_fn": lambda out, y: 1.0}, TypeError, "scalar tensor"),
    ({"loss_fn": lambda out, y: (out - y).pow(2).mean() * float("nan")}, FloatingPointError, "nan"),
    ({"metrics": {"mae": lambda out, y: 0.0}}, ValueError, "val_loader"),
    ({"resume": True}, ValueError, "checkpoint"),
    ({"amp": "yes"}, ValueError, "amp must be"),
    ({"model": lambda x: x}, TypeError, "nn.Module"),
    ({"train_loader": [torch.zeros(2, 4)]}, TypeError, r"\(inputs, targets\)"),
])
def test_bad_inputs_raise_clear_errors(kwargs, error, match):
    args = {"model": nn.Linear(4, 1), "loss_fn": nn.MSELoss(),
            "train_loader": DataLoader(TensorDataset(torch.randn(4, 4), torch.randn(4, 1)), batch_size=2)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fit(args.pop("model"), args.pop("loss_fn"), args.pop("train_loader"), epochs=args.pop("epochs", 1), **args)


def test_mixed_precision_only_on_cuda():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _amp_dtype(None, cpu) is None and _amp_dtype(True, cpu) is None
    assert _amp_dtype(False, cuda) is None
    assert _amp_dtype(torch.float16, cuda) == torch.float16 and _amp_dtype(torch.bfloat16, cuda) == torch.bfloat16
    with pytest.raises(ValueError, match="amp must be"):
        _amp_dtype(torch.float64, cuda)


def _record_displays(monkeypatch):
    """What fit shows in a notebook: (kind, object, metadata) for each display, update and final display."""
    import IPython.display

    import course_lib.train as train

    calls = []
    monkeypatch.setattr(train, "_in_notebook", lambda: True)
    for kind in ("display", "update"):
        monkeypatch.setattr(IPython.display.DisplayHandle, kind,
                            lambda self, obj, kind=kind, **kw: calls.append((kind, obj, kw.get("metadata"))))
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: calls.append(("final", obj, kw.get("metadata"))))
    return calls


def test_in_a_notebook_one_plot_is_updated_in_place_then_shown_once_more(monkeypatch, capsys):
    from course_lib.train import LIVE_PLOT

    calls = _record_displays(monkeypatch)
    seed_everything(0)
    train_loader, val_loader = _loaders()
    fit(_model(), nn.MSELoss(), train_loader, val_loader, epochs=2, metrics={"mae": lambda out, y: 0.0})
    kinds = [kind for kind, _, _ in calls]
    assert kinds[0] == "display" and kinds[-2:] == ["update", "final"] and set(kinds[1:-1]) == {"update"}
    assert all(meta == {LIVE_PLOT: True} for _, _, meta in calls[:-1])  # the redrawn output is marked ...
    assert calls[-2][1] == {"text/plain": ""}  # ... and emptied at the end,
    final = calls[-1][1]  # the final figure is an output of its own, unmarked (nbval saves no updates)
    assert calls[-1][2] is None
    assert [ax.get_title() for ax in final.axes] == ["loss per step", "loss per epoch", "validation metrics"]
    assert len(final.axes[1].get_lines()[0].get_xdata()) == 2  # both epochs in the final figure
    assert "epoch 1/2" not in capsys.readouterr().out  # no log lines under a live plot
    assert final.get_suptitle() == ""  # no title unless asked for


def test_the_live_plot_carries_the_title(monkeypatch):
    calls = _record_displays(monkeypatch)
    train_loader, _ = _loaders()
    fit(_model(), nn.MSELoss(), train_loader, title="tiny linear model")
    figures = [obj for _, obj, _ in calls if not isinstance(obj, dict)]
    assert figures and all(fig.get_suptitle() == "tiny linear model" for fig in figures)
    with pytest.raises(TypeError, match="title must be a str"):
        fit(_model(), nn.MSELoss(), train_loader, title=3)


def test_dict_targets_count_their_items():
    """Validation averages are weighted by items, also when targets are dicts (U-Net's mask + weight)."""
    from course_lib.train import _batch_size

    assert _batch_size({"mask": torch.zeros(5, 8, 8), "weight": torch.ones(5, 8, 8)}) == 5
    assert _batch_size(torch.zeros(3)) == 3 and _batch_size([1, 2]) == 2


def test_evaluate_is_the_batch_weighted_mean_of_loss_and_metrics():
    model = nn.Linear(4, 1)
    x, y = torch.randn(5, 4), torch.randn(5, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=2)  # batches of 2, 2 and 1
    with torch.no_grad():
        expected = ((model(x) - y) ** 2).mean().item()
    scores = evaluate(model.train(), loader, nn.MSELoss(), {"one": lambda out, t: 1.0})
    assert scores["loss"] == pytest.approx(expected) and scores["one"] == 1.0 and not model.training
    assert set(evaluate(model, loader, metrics={"one": lambda out, t: 1.0})) == {"one"}


def test_predict_matches_one_pass_in_eval_mode_without_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3)).train()
    x = torch.randn(10, 4)
    out = predict(model, x, batch_size=3)
    assert not model.training and not out.requires_grad
    torch.testing.assert_close(out, model(x).detach())
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, x, batch_size=0)


def test_channels_last_collate_changes_the_memory_order_not_the_values():
    from torch.utils.data import default_collate

    from course_lib.train import channels_last_collate

    items = [(torch.rand(3, 8, 6), torch.randint(0, 4, (8, 6))) for _ in range(2)]
    (images, masks), (ref_images, ref_masks) = channels_last_collate(items), default_collate(items)
    assert images.is_contiguous(memory_format=torch.channels_last) and not ref_images.is_contiguous(
        memory_format=torch.channels_last)
    assert torch.equal(images, ref_images) and torch.equal(masks, ref_masks) and masks.is_contiguous()
    as_dicts = channels_last_collate([{"image": image, "mask": mask} for image, mask in items])
    assert as_dicts["image"].is_contiguous(memory_format=torch.channels_last)
