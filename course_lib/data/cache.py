"""A tiny on-disk cache for generated data: ``cached(name, params, make)``.

Files live in ``<repo>/datasets/cache/<name>-<hash of params>.pt`` (git-ignored). Set
``COURSE_CACHE_DIR`` to use another folder; when the folder cannot be written (a read-only
checkout, an installed package) the cache falls back to the user's cache folder for "cnn-course"
(``platformdirs.user_cache_dir``: ``~/.cache/cnn-course`` on Linux, ``~/Library/Caches/cnn-course``
on macOS, ``%LOCALAPPDATA%/cnn-course/Cache`` on Windows), and when that cannot be written either the
data is simply made again each time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import platformdirs
import torch

from course_lib.config import REPO_ROOT

ENV_VAR = "COURSE_CACHE_DIR"
APP_NAME = "cnn-course"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _repo_cache_dir() -> Path | None:
    """``<repo>/datasets/cache`` when course_lib runs from a checkout of the course repo."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "datasets").is_dir():
        return REPO_ROOT / "datasets" / "cache"
    return None


def cache_dir() -> Path | None:
    """The first writable folder of: ``$COURSE_CACHE_DIR`` (or the repo's ``datasets/cache``),
    then the user's cache folder; ``None`` when neither can be written."""
    env = os.environ.get(ENV_VAR)
    first = Path(env).expanduser() if env else _repo_cache_dir()
    for folder in (first, platformdirs.user_cache_path(APP_NAME, appauthor=False)):
        if folder is not None and _writable(folder):
            return folder
    return None


def params_key(params: dict) -> str:
    """A short, stable hash of ``params`` (JSON with sorted keys)."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    try:
        text = json.dumps(params, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"params must hold only JSON values (numbers, strings, lists): {error}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(name: str, params: dict, make: Callable[[], Any]) -> Any:
    """Return ``make()``, stored on first use and loaded from disk when ``name`` and ``params`` match.

    ``make`` must return what ``torch.load(..., weights_only=True)`` can read back: tensors and
    dicts/lists/tuples of tensors, numbers and strings. The file is written to a temporary name and
    moved into place with ``os.replace``, so a crash or a parallel run never leaves half a file.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits, '_', '.' or '-', got {name!r}")
    if not callable(make):
        raise TypeError(f"make must be a callable returning the data, got {type(make).__name__}")
    key = params_key(params)
    plain = json.loads(json.dumps(params))  # tuples become lists, as they come back from disk
    folder = cache_dir()
    if folder is None:
        return make()
    path = folder / f"{name}-{key}.pt"
    if path.is_file():
        try:
            stored = torch.load(path, weights_only=True)
            if stored["params"] == plain:
                return stored["value"]
        except Exception:  # a corrupt or foreign file: make the data again and overwrite it
            pass
    value = make()
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save({"params": plain, "value": value}, file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return value
