"""Notebook 00 as the grading tests craft submissions from it."""

# its tour and figures (no exercise): the crafted submissions leave them out, they would only lengthen each
# whole-notebook run by seconds
TOUR = ("env", "tour-shapes", "tour-images", "ex-0-1-fig", "ex-0-2-fig")
