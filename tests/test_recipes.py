"""course_lib.recipes: one copy of each notebook's experiment, called by the notebook and its benchmark.

The structure is what is tested here (the numbers are the notebooks' and the benchmarks'): every benchmark of a
converted notebook imports its recipe module, no model module defines a recipe or a loss any more, and a
recipe's training is reproducible from its seed (the notebook and the benchmark then train the same network).
"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

from course_lib.recipes import distillation, enet, fcn, unet

ROOT = Path(__file__).resolve().parents[1]
#: benchmark -> the recipe modules it must run (its notebooks')
BENCHMARKS = {"fcn": ["fcn"], "unet": ["unet"], "enet": ["enet"], "developments": ["developments", "backbones_pyramid"],
              "distillation": ["distillation"], "perceptual": ["perceptual"], "mask_rcnn": ["mask_rcnn"],
              "applications": ["enhancement", "reflection", "super_resolution"]}
MOVED = {"fcn": ["FCNRecipe", "fcn_recipe"], "unet": ["CellsRecipe", "cells_recipe", "pixel_weighted_cross_entropy"],
         "enet": ["ENetRecipe", "enet_recipe", "enet_short_recipe", "train_enet", "held_out_iou",
                  "load_enet_checkpoint"],
         "distillation": ["DigitsRecipe", "digits_recipe"],
         "developments": ["DevelopmentsRecipe", "developments_recipe", "train_decoder", "refinements"],
         "mask_rcnn": ["MaskRCNNRecipe", "mask_rcnn_recipe", "train_small_mask_rcnn", "train_mask_head",
                       "mask_head_ablation", "instance_ap", "mask_loss", "total_loss", "load_mask_rcnn_checkpoint",
                       "TrainingLosses"],
         "mimic_detector": ["detector_losses", "DetectorTraining"],
         "sice": ["EnhanceRecipe", "enhance_recipe", "train_enhancer", "train_networks", "held_out_pairs",
                  "evaluate_enhancers", "sice_loss", "guided_filter"],
         "reflection": ["ReflectionRecipe", "reflection_recipe", "train_separation", "evaluate_separation",
                        "linear_light_recipe", "train_linear_light", "exclusion_loss", "separation_loss",
                        "load_linear_light_checkpoint"],
         "srcnn": ["SRRecipe", "sr_recipe", "sr_training_data", "train_sr", "train_srcnn", "held_out_pairs",
                   "evaluate_sr", "load_srcnn_checkpoint"],
         "icnet": ["ICNetRecipe", "icnet_recipe", "train_cascade_pair", "cascade_experiment", "CascadeLoss",
                   "load_cascade_checkpoints"],
         "backbones": ["train_classifier", "degradation_experiment"],
         "pspnet": ["train_segmentation"],
         "self_training": ["ema_teacher_self_training"]}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_each_benchmark_runs_its_notebooks_recipe_module(benchmark):
    imports = _imports(ROOT / "benchmarks" / f"{benchmark}.py")
    assert {f"course_lib.recipes.{module}" for module in BENCHMARKS[benchmark]} <= imports


@pytest.mark.parametrize("module", sorted(MOVED))
def test_the_model_modules_keep_networks_only(module):
    source = (ROOT / "course_lib" / "models" / f"{module}.py").read_text()
    defined = {node.name for node in ast.parse(source).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert not defined & set(MOVED[module])


def test_no_model_module_defines_a_loss_a_recipe_a_training_or_an_evaluation():
    """By name: what a module of models/ defines is a network, a layer or a helper of one."""
    for path in sorted((ROOT / "course_lib" / "models").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                name = node.name.lower()
                assert not ("loss" in name or "recipe" in name or name.startswith(("train", "evaluate", "fit_"))), (
                    f"{path.name} defines {node.name}")


def test_the_fitnet_stages_live_in_the_recipe_only():
    """FitNets' epochs are the recipe's fields, not constants of the notebook or the benchmark."""
    recipe = distillation.digits_recipe()
    assert recipe.hint_epochs >= 1 and recipe.kd_epochs >= 1
    for path in (ROOT / "benchmarks" / "distillation.py", ROOT / "solutions" / "08_distillation.ipynb"):
        assert "HINT_EPOCHS, KD_EPOCHS = pick(" not in path.read_text()


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_fcn_training_is_reproducible_from_its_seed():
    recipe = dataclasses.replace(fcn.fcn_recipe(), n_train=16, n_val=4, epochs=1)
    train_set, images, masks = fcn.shapes_data(recipe)
    first, _ = fcn.train(recipe, "8s", train_set, plot=False)
    again, _ = fcn.train(recipe, "8s", train_set, plot=False)
    other, _ = fcn.train(recipe, "8s", train_set, seed=1, plot=False)
    assert torch.equal(_weights(first), _weights(again))
    assert not torch.equal(_weights(first), _weights(other))
    scores = fcn.evaluate(first, images, masks)
    assert 0 <= scores["miou"] <= 1 and scores["predictions"].shape == masks.shape


def test_unet_targets_are_the_weight_map_or_ones():
    instances = torch.zeros(16, 16, dtype=torch.long)
    instances[2:7, 2:7], instances[2:7, 8:13] = 1, 2
    plain, weighted = unet.cell_targets(instances, 0, 5.0), unet.cell_targets(instances, 10.0, 5.0)
    assert torch.equal(plain["mask"], (instances > 0).long()) and torch.equal(plain["weight"], torch.ones(16, 16))
    assert weighted["weight"][4, 7] > weighted["weight"][4, 1] > 0  # the gap between the two cells weighs more


def test_enet_recipe_trains_channels_last():
    recipe = dataclasses.replace(enet.enet_recipe(), n_train=8, n_val=4, epochs=1)
    model = enet.train_enet(recipe, plot=False, verbose=False)
    assert model.initial.conv.weight.is_contiguous(memory_format=torch.channels_last)
