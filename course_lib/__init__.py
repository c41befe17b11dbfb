"""course_lib: the small reference implementations and shared tools of "CNN for Computer Vision".

A notebook starts with::

    from course_lib import setup, check, pick
    device = setup()          # seeds everything, prints device, mode, seed and versions
"""
from course_lib.config import get_device, is_fast, mode, offline, pick, seed_everything, setup
from course_lib.exercises import check

__all__ = ["setup", "check", "pick", "mode", "is_fast", "offline", "get_device", "seed_everything"]
__version__ = "0.1.0"
