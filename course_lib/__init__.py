"""course_lib: the small reference implementations and shared tools of "CNN for Computer Vision".

A notebook starts with::

    from course_lib import pick, setup
    from course_lib.exercises import check
    device = setup()          # seeds everything, prints device, mode, seed and versions

The package's own face imports only the lowest layer (``config``), so ``import course_lib.config`` or
``import course_lib.metrics`` does not load the models, the exercises and the grader.
"""
from course_lib.config import get_device, is_fast, mode, offline, pick, seed_everything, setup

__all__ = ["setup", "pick", "mode", "is_fast", "offline", "get_device", "seed_everything"]
__version__ = "0.1.0"
