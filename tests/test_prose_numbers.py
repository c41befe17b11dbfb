"""A number in a notebook's prose names its source.

A measured number typed into a markdown cell goes stale as soon as the code, a seed or the machine
changes, and nothing tells the reader. The rule (CONTRIBUTING, "Numbers in the prose"):

- a number the notebook measures is printed by code next to the sentence that uses it
  (``display(Markdown(f"..."))`` or a printed table): it is an output, not markdown;
- a number from a longer run names the command that reproduces it (a ``benchmarks/`` or
  ``scripts/`` path, or ``make ...``) in the same sentence; a library's number names its documentation;
- a paper's number carries its citation in the same sentence: a year (``He et al. 2017``).

Section, equation and exercise numbers (``§4.2``, ``Exercise 0.1``) are no measurements either.
Settings and formulas are not measurements: write them as code (`` `sigma=1.5` ``) or maths
(``$\\sigma = 1.5$``); the test ignores numbers inside both. What it checks: every decimal number
(``0.93``, ``12.5``, ``1,060.4``) in the rest of a markdown cell's text sits in a sentence (a list
item or a table row counts as one) that also holds a citation or a source, which may be in code; a
table row's source may also stand in its table or in the paragraph just before the table.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb"))

DECIMAL = re.compile(r"(?<![\w.])\d[\d,]*\.\d+(?![\w.]*\w)")
CODE_OR_MATH = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$", re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)")  # [text](https://arxiv.org/abs/1703.06870): the address is no number
HTML_TAG = re.compile(r"<[^>\n]*>")
CITATION = re.compile(r"\b(19[5-9]\d|20[0-2]\d)[a-z]?\b")
SOURCE = re.compile(r"\b(benchmarks|scripts)/\w+|\bmake \w|\bdocumentation\b")
ITEM = re.compile(r"\s*([-*+]|\d+[.)])\s|\s*\|")
# Section, equation, figure, table and exercise numbers (§4.2, Eq. 3.1, Exercise 0.1) are no measurements.
REFERENCE = re.compile(r"(§|@|\b(?:Exercise|Section|Sec\.|Eq\.|Eqs\.|Fig\.|Figure|Table|Algorithm|version|v)\s?)"
                       r"\d[\d.]*(?:[–-]\d[\d.]*)?")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def sentences(markdown: str) -> list[tuple[str, str, str]]:
    """``(as written, with code and maths blanked, context)`` for each sentence, list item and table
    row. A table row's context is its whole table and the paragraph before it (the table's caption),
    where its source may be named once; a sentence's context is itself."""
    text = HTML_TAG.sub(" ", LINK_TARGET.sub("]()", markdown))
    blanked = CODE_OR_MATH.sub(lambda m: re.sub(r"[^\n]", "_", m.group(0)), text)
    units: list[tuple[str, str, str]] = []
    previous = ""
    # Work on the blanked text's positions so both versions split at the same places.
    for block in re.finditer(r"(?:[^\n]|\n(?!\s*\n))+", blanked):
        written_block = text[block.start():block.end()]
        is_table = all(line.lstrip().startswith("|") for line in written_block.splitlines() if line.strip())
        starts = [block.start()]
        for line in re.finditer(r"\n", block.group(0)):
            if ITEM.match(blanked, block.start() + line.end()):
                starts.append(block.start() + line.end())
        for begin, end in zip(starts, starts[1:] + [block.end()]):
            if is_table:
                units.append((text[begin:end], blanked[begin:end], previous + "\n" + written_block))
                continue
            pieces = [begin] + [begin + m.end() for m in SENTENCE_END.finditer(blanked[begin:end])]
            for a, b in zip(pieces, pieces[1:] + [end]):
                units.append((text[a:b], blanked[a:b], text[a:b]))
        previous = written_block
    return units


def unsourced_numbers(markdown: str) -> list[tuple[str, list[str]]]:
    """``(sentence as written, its decimal numbers)`` for each sentence of ``markdown`` with no source."""
    found = []
    for written, blanked, context in sentences(markdown):
        numbers = DECIMAL.findall(REFERENCE.sub(" ", blanked))
        if numbers and not (CITATION.search(context) or SOURCE.search(context)):
            found.append((written, numbers))
    return found


def unsourced(path: Path) -> list[str]:
    """``"cell 12: 0.93 in '...'"`` for each sentence with a decimal number and no source."""
    return [f"cell {index}: {', '.join(numbers)} in {' '.join(written.split())[:110]!r}"
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells) if cell.cell_type == "markdown"
            for written, numbers in unsourced_numbers(cell.source)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_in_the_prose_names_its_source(path):
    found = unsourced(path)
    assert not found, (f"{path.name}: decimal numbers in markdown with no citation (a year) or source "
                       f"(benchmarks/, scripts/, make) in the same sentence. Print measured numbers "
                       f"from code; write settings as `code` or $maths$:\n  " + "\n  ".join(found))


@pytest.mark.parametrize("markdown", [
    "In our run the network scored 0.93 mean IoU.",                       # a measured number, typed in
    "It rose from 0.52 to 0.61. The paper (He et al. 2017) reports 30.3.",  # the citation is in another sentence
    "- FCN-8s: 0.519\n- the paper: 62.7 (Long et al. 2015)",              # list items are separate units
    "We measured 1,060.5 ms.",
])
def test_an_unsourced_number_is_flagged(markdown):
    assert unsourced_numbers(markdown)


@pytest.mark.parametrize("markdown", [
    "The paper reports 30.3 mask AP (He et al. 2017, Table 2c).",
    "`python benchmarks/mask_rcnn.py` prints 72.1 ± 0.3 over three seeds.",
    "With `sigma=1.5` and $\\theta_\\alpha = 6.0$ the kernel is wide.",
    "See §4.2, Eq. 3.1 and Exercise 0.2; AP is reported as mAP@0.5.",
    "Results (`benchmarks/distillation.py`):\n\n| seed | mAP |\n|---|---|\n| 0 | 0.594 |",
    "[the paper](https://arxiv.org/abs/1703.06870) has no number here.",
])
def test_a_sourced_setting_or_reference_number_passes(markdown):
    assert unsourced_numbers(markdown) == []
