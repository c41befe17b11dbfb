"""Losses, grouped by the section that introduces them.

segmentation: pixel_weighted_cross_entropy (U-Net, §B1), CascadeLoss (ICNet, §D)
detection: mask_loss, softmax_mask_loss, total_loss (Mask R-CNN, §C)
style: gram_matrix, content_loss, style_loss, tv_loss (Gatys, §E1)
perceptual: perceptual_loss, gradient_loss, style_transfer_objective (Johnson, §E2)
distillation: softmax_with_temperature, kd_loss, distillation_loss, hint_loss, mimic_loss
    (Hinton, FitNets, Li et al., §F), and for mimicking: Adaptation, teacher_features, detector_losses, DetectorTraining
enhancement: sice_loss (SICE, §G1)
reflection: exclusion_loss, separation_loss (Zhang et al., §G2)
"""
from course_lib.losses.detection import *  # noqa: F401,F403
from course_lib.losses.distillation import *  # noqa: F401,F403
from course_lib.losses.enhancement import *  # noqa: F401,F403
from course_lib.losses.perceptual import *  # noqa: F401,F403
from course_lib.losses.reflection import *  # noqa: F401,F403
from course_lib.losses.segmentation import *  # noqa: F401,F403
from course_lib.losses.style import *  # noqa: F401,F403
