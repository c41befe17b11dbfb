"""A stub never shadows a name an earlier cell uses.

A learner runs an exercise cell while its body still says ``raise NotImplementedError``, then goes
back and re-runs an earlier cell. If the exercise cell defined a name that the earlier cell reads
(``def psnr_y`` after ``from course_lib.metrics import psnr_y``), the earlier cell now calls the
stub and fails. This test parses every code cell of every notebook and fails when an earlier cell
reads, as a global name, a name that a later exercise cell binds at its top level (``def``,
``class``, assignment, import).

What counts as a read: a name that the cell looks up in the notebook's namespace, at the top level
or inside its functions, classes, lambdas and comprehensions (scopes resolved by :mod:`symtable`),
unless the cell itself binds that name at its top level before the statement that reads it (re-running
such a cell rebinds the name first). An attribute (``metrics.psnr_y``) is not a read of ``psnr_y``,
and a name the exercise binds that no earlier cell reads is fine.

Exercise cells: code cells with a ``### BEGIN SOLUTION`` region (``solutions/``) and the code cell
just before each check cell (the cell ``course grade`` runs; in ``notebooks/`` the regions are gone).
"""
from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course_lib.grading.notebooks import BEGIN, is_check_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))

_transform = TransformerManager().transform_cell  # %magics and !shell lines become plain Python


@dataclass(frozen=True)
class Shadowing:
    name: str
    exercise_cell: int
    earlier_cell: int
    line: int  # in the earlier cell, 1-based

    def __str__(self):
        return (f"exercise cell {self.exercise_cell} binds {self.name!r}, which cell {self.earlier_cell} "
                f"(line {self.line}) reads: after the stub runs, re-running cell {self.earlier_cell} calls the stub")


_CODE_MAGICS = {"time", "timeit", "prun", "capture"}  # magics whose argument or body is Python code
_TIMEIT_OPTIONS = re.compile(r"^(\s*-[nrp]\s*\S+|\s*-[tcqo]\b)*")


def _magic_code(node: ast.AST) -> str | None:
    """The Python code inside ``get_ipython().run_line_magic("time", "f(x)")`` (what ``%time f(x)`` becomes)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic")
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and node.args and node.args[0].value in _CODE_MAGICS):
        return None
    if node.func.attr == "run_cell_magic":
        return node.args[-1].value
    return _TIMEIT_OPTIONS.sub("", node.args[-1].value)


def _statements(source: str) -> list[ast.stmt]:
    """The cell's top-level statements, each followed by the statements of the magics inside it."""
    statements = []
    for statement in ast.parse(_transform(source)).body:
        statements.append(statement)
        for node in ast.walk(statement):
            code = _magic_code(node)
            if code is not None:
                statements += _statements(code)
    return statements


def _global_reads(table: symtable.SymbolTable) -> set[str]:
    """Names looked up in the module namespace anywhere in ``table`` (a statement's symbol table)."""
    top = table.get_type() == "module"
    names = {s.get_name() for s in table.get_symbols()
             if s.is_referenced() and (top or s.is_global()) and not s.get_name().startswith(".")}
    for child in table.get_children():
        names |= _global_reads(child)
    return names


def _global_writes(table: symtable.SymbolTable) -> set[str]:
    """Names ``table`` binds in the module namespace: at its top level, or through ``global``."""
    top = table.get_type() == "module"
    names = {s.get_name() for s in table.get_symbols()
             if (top and (s.is_assigned() or s.is_imported() or s.is_namespace()))
             or (not top and s.is_declared_global() and s.is_assigned())}
    for child in table.get_children():
        names |= _global_writes(child)
    return names


def _table(statement: ast.stmt) -> symtable.SymbolTable:
    return symtable.symtable(ast.unparse(statement), "<cell>", "exec")


def top_level_bindings(source: str) -> set[str]:
    """The names a cell binds in the notebook's namespace (def, class, assignment, import, ``global``)."""
    names: set[str] = set()
    for statement in _statements(source):
        names |= _global_writes(_table(statement))
    return names


def outside_reads(source: str) -> dict[str, int]:
    """``{name: line}``: the names a cell reads from the notebook's namespace without binding them
    first itself, each with the line of the first statement that reads it."""
    bound: set[str] = set()
    reads: dict[str, int] = {}
    for statement in _statements(source):
        table = _table(statement)
        writes = _global_writes(table)
        # the body of a def/class/for/with/if/try may read what the statement itself has bound
        own = writes if not isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) else set()
        for name in _global_reads(table) - bound - own:
            reads.setdefault(name, statement.lineno)
        bound |= writes
    return reads


def exercise_cells(nb) -> list[int]:
    """Indices of the cells that hold an exercise: a solution region, or the code cell before a check cell."""
    cells = nb.cells
    found = {i for i, c in enumerate(cells) if c.cell_type == "code" and BEGIN in c.source}
    for i, cell in enumerate(cells):
        if is_check_cell(cell):
            before = [j for j in range(i) if cells[j].cell_type == "code"]
            if before:
                found.add(before[-1])
    return sorted(found)


def shadowings(nb) -> list[Shadowing]:
    """Every (exercise cell, earlier code cell, name) where the earlier cell reads a name the exercise binds."""
    cells = nb.cells
    found = []
    for ex in exercise_cells(nb):
        bound = top_level_bindings(cells[ex].source)
        for earlier in range(ex):
            if cells[earlier].cell_type != "code":
                continue
            for name, line in sorted(outside_reads(cells[earlier].source).items()):
                if name in bound:
                    found.append(Shadowing(name, ex, earlier, line))
    return found


# --- the detector on tiny notebooks --------------------------------------------------------------

def _notebook(*sources: str, check_after: int | None = None):
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if check_after is not None:
        check = nbformat.v4.new_code_cell('check("X.1", f)')
        check.metadata.update(tags=["nbval-check-output"], course={"exercise": "X.1", "points": 1})
        cells.insert(check_after + 1, check)
    return nbformat.v4.new_notebook(cells=cells)


STUB = "def psnr_y(x, y):\n    ### BEGIN SOLUTION\n    return 0\n    ### END SOLUTION\n"


def test_detector_catches_a_stub_that_shadows_a_name_an_earlier_cell_calls():
    nb = _notebook("from course_lib.metrics import psnr_y", "print(psnr_y(a, b))", STUB)
    assert shadowings(nb) == [Shadowing("psnr_y", exercise_cell=2, earlier_cell=1, line=1)]
    assert "cell 1" in str(shadowings(nb)[0]) and "'psnr_y'" in str(shadowings(nb)[0])


@pytest.mark.parametrize("earlier", [
    "def show(a, b):\n    return psnr_y(a, b)",                  # inside a function, called later
    "scores = [psnr_y(a, b) for a, b in pairs]",                  # inside a comprehension
    "f = lambda a: psnr_y(a, a)",
    "x = 1\nfor a in pairs:\n    print(psnr_y(a, a))",             # not on the first line
    "psnr_y(a, b)\nfrom course_lib.metrics import psnr_y",         # imported only after its use
    "%time psnr_y(a, b)",                                          # behind a magic
    "%timeit -n 3 -r 1 psnr_y(a, b)",
    "%%time\nscore = psnr_y(a, b)",
])
def test_detector_finds_reads_in_every_scope(earlier):
    nb = _notebook("from course_lib.metrics import psnr_y", earlier, STUB)
    assert [s.name for s in shadowings(nb)] == ["psnr_y"]


@pytest.mark.parametrize("exercise", [
    "def psnr_y(x, y):\n    raise NotImplementedError",            # the released stub, before a check cell
    "class psnr_y:\n    pass",
    "psnr_y = None",
    "from course_lib.metrics import psnr as psnr_y",
    "for psnr_y in range(3):\n    pass",
    "def helper():\n    global psnr_y\n    psnr_y = None",
])
def test_detector_sees_every_kind_of_binding(exercise):
    nb = _notebook("print(psnr_y(a, b))", exercise, check_after=1)
    assert [s.name for s in shadowings(nb)] == ["psnr_y"]


@pytest.mark.parametrize("earlier", [
    "from course_lib import metrics\nprint(metrics.psnr_y(a, b))",  # an attribute, not the name
    "from course_lib.metrics import psnr_y\nprint(psnr_y(a, b))",   # the cell rebinds it before use
    "def f(psnr_y):\n    return psnr_y(1)",                           # a parameter of the same name
    "def f():\n    psnr_y = g\n    return psnr_y(1)",                 # a local of the same name
    "values = [psnr_y for psnr_y in range(3)]",                       # a comprehension variable
    "print('psnr_y')  # psnr_y in a string or a comment",
])
def test_detector_accepts_other_uses_of_the_same_word(earlier):
    assert shadowings(_notebook("from course_lib.metrics import psnr_y", earlier, STUB)) == []


def test_detector_accepts_a_renamed_exercise_and_names_read_only_later():
    renamed = STUB.replace("def psnr_y", "def my_psnr_y")
    assert shadowings(_notebook("from course_lib.metrics import psnr_y", "print(psnr_y(a, b))", renamed)) == []
    # the exercise binds a name no earlier cell reads: fine, wherever else it is used
    assert shadowings(_notebook("import torch", STUB, "print(psnr_y(a, b))")) == []


def test_exercise_cells_are_the_solution_regions_and_the_cells_before_check_cells():
    nb = _notebook("import torch", "def f():\n    raise NotImplementedError", "x = 1", STUB, check_after=1)
    assert exercise_cells(nb) == [1, 4]


# --- the course's notebooks -----------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_exercise_cell_binds_a_name_an_earlier_cell_reads(path):
    nb = nbformat.read(path, as_version=4)
    assert exercise_cells(nb), f"{path.name}: no exercise cell found"
    problems = [f"{path.parent.name}/{path.name}: {s}" for s in shadowings(nb)]
    assert not problems, ("an exercise's stub would break an earlier cell; rename the exercise's function "
                          "or qualify the earlier use (module.name):\n" + "\n".join(problems))
