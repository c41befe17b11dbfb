"""Losses, grouped by the section that introduces them.

style: gram_matrix, content_loss, style_loss, tv_loss (Gatys, §E1)
perceptual: perceptual_loss, gradient_loss, style_transfer_objective (Johnson, §E2)
distillation: softmax_with_temperature, kd_loss, distillation_loss, hint_loss, mimic_loss
    (Hinton, FitNets, Li et al., §F), and for mimicking: Adaptation, teacher_features, DetectorTraining
"""
from course_lib.losses.distillation import *  # noqa: F401,F403
from course_lib.losses.perceptual import *  # noqa: F401,F403
from course_lib.losses.style import *  # noqa: F401,F403
