"""Bad image batches a learner can give a network that takes RGB images in [0, 1], with the error
type and the words its message must contain (all checked by ``check_image_batch``)."""
import torch

BAD_IMAGE_BATCHES = [
    (torch.rand(1, 1, 16, 16), ValueError, "grayscale"),
    (torch.rand(3, 16, 16), ValueError, "batch"),
    (torch.rand(1, 3, 16, 16) * 255, ValueError, "[0, 1]"),
    ((torch.rand(1, 3, 16, 16) * 255).to(torch.uint8), TypeError, "float"),
    ([[0.5]], TypeError, "Tensor"),
]
