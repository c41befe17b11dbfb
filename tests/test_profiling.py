"""course_lib.profiling against numbers worked out by hand."""
import math
import pytest
import torch
from torch import nn

from course_lib.profiling import count_flops, count_parameters, latency, measure


def test_count_parameters_of_a_conv_and_a_linear_by_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    assert count_parameters(model) == (3 * 8 * 5 * 5 + 8) + (8 * 4 * 4 * 10 + 10)


def test_count_flops_is_two_per_multiply_add():
    linear = nn.Linear(100, 30)
    assert count_flops(linear, torch.zeros(4, 100)) == 2 * 4 * 100 * 30
    conv = nn.Conv2d(3, 16, 3, padding=1)
    # every output value: 3 * 3 * 3 multiply-adds
    assert count_flops(conv, torch.zeros(2, 3, 10, 12)) == 2 * (2 * 16 * 10 * 12) * (3 * 3 * 3)


def test_count_flops_works_on_the_meta_device_and_restores_train_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout()).to("meta").train()
    assert count_flops(model, torch.zeros(1, 3, 8, 8, device="meta")) == 2 * 4 * 8 * 8 * 3
    assert model.training


def test_latency_is_the_median_of_the_timed_calls():
    calls = []
    assert latency(lambda: calls.append(1), repeats=5, warmup=2) < 0.1
    assert len(calls) == 7


def test_measure_returns_params_flops_and_seconds_without_gradients():
    model = nn.Conv2d(3, 4, 3, padding=1)
    result = measure(model, (1, 3, 8, 8), repeats=2, warmup=1)
    assert result["params"] == 3 * 4 * 9 + 4
    assert result["flops"] == 2 * 4 * 8 * 8 * 27
    assert 0 < result["seconds"] < 1 and model.training


@pytest.mark.parametrize("kwargs, match", [(dict(repeats=0), "repeats"), (dict(warmup=-1), "warmup"),
                                           (dict(repeats=2.5), "repeats")])
def test_latency_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        latency(lambda: None, **kwargs)


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters(lambda x: x)


def test_memory_format_speedups_times_each_variant_and_leaves_the_model_alone():
    from course_lib.profiling import SPEEDUP_VARIANTS, memory_format_speedups

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 1))
    rows = memory_format_speedups({"tiny": model}, (1, 3, 16, 16), compile=False, repeats=1, warmup=0)
    assert rows["tiny"]["eager"] > 0 and rows["tiny"]["channels_last"] > 0
    assert math.isnan(rows["tiny"]["channels_last + compile"]) and set(SPEEDUP_VARIANTS) <= set(rows["tiny"])
    assert model[0].weight.is_contiguous()  # a copy went channels_last, not the learner's model


def test_memory_format_speedups_reports_a_failed_compile_instead_of_crashing(monkeypatch):
    from course_lib.profiling import memory_format_speedups

    def no_compiler(model):
        raise RuntimeError("no C++ compiler found\nmore details")

    monkeypatch.setattr(torch, "compile", no_compiler)
    rows = memory_format_speedups({"tiny": nn.Conv2d(3, 4, 3)}, (1, 3, 8, 8), repeats=1, warmup=0)
    assert rows["tiny"]["compile error"] == "RuntimeError: no C++ compiler found"
    assert math.isnan(rows["tiny"]["channels_last + compile"])


def test_memory_format_speedups_says_what_it_expects():
    from course_lib.profiling import memory_format_speedups

    with pytest.raises(TypeError, match="non-empty dict"):
        memory_format_speedups(nn.Conv2d(3, 4, 3))
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        memory_format_speedups({"net": "resnet"})
