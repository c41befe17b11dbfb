"""The course's data: seeded synthetic datasets and the sample images that ship with installed packages.

    from course_lib.data import ShapesDataset, sample_image
    train = ShapesDataset(512, size=128, seed=0)          # (image, mask) pairs
    image = sample_image("astronaut", size=256)           # float32 (3, 256, 256) in [0, 1]
"""
from course_lib.data.cache import cached
from course_lib.data.cells import TouchingCellsDataset, split_touching_objects
from course_lib.data.generated_styles import GENERATED_STYLES, generated_style, style_image
from course_lib.data.digits import digits_dataset, jitter, load_digits, mnist_available, render_digits
from course_lib.data.samples import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image, sample_image_names
from course_lib.data.shapes import CLASS_NAMES, NUM_CLASSES, ShapesDataset, collate_detection

__all__ = [
    "ShapesDataset", "CLASS_NAMES", "NUM_CLASSES", "collate_detection",
    "sample_image", "sample_image_names", "TRAIN_IMAGES", "HELD_OUT_IMAGES", "cached",
    "TouchingCellsDataset", "split_touching_objects",
    "generated_style", "style_image", "GENERATED_STYLES",
    "load_digits", "digits_dataset", "render_digits", "jitter", "mnist_available",
]
