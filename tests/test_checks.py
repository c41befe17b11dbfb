"""check(): one deterministic line, never an exception; exercises draw plain-data cases from a seed."""
import io

import numpy as np
import pytest
import torch

from course_lib.exercises import check
from course_lib.arithmetic import conv_output_size
from course_lib.checks import CheckFailed, Exercise, compare_values, rel_error, unsolved_dependency, verify
from course_lib.exercises import REGISTRY, build_registry


def test_correct_solution_prints_one_tick_line(capsys):
    check("0.1", conv_output_size)
    assert capsys.readouterr().out == "0.1 conv_output_size: ✓ matches the reference on 8 cases\n"


def test_wrong_solution_names_the_first_mismatch(capsys):
    check("0.1", lambda size, kernel_size, stride=1, padding=0, dilation=1: size - kernel_size + 1)
    out = capsys.readouterr().out
    assert out.startswith("0.1 conv_output_size: ✗ case 1 (size=57, kernel_size=7, stride=1, padding=3")
    assert out.count("\n") == 1


def test_a_float_where_an_int_is_due_is_named(capsys):
    check("0.1", lambda size, kernel_size, stride=1, padding=0, dilation=1: float(size))
    assert "expected an int, got float" in capsys.readouterr().out


def test_unsolved_exercise_is_not_attempted(capsys):
    def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
        raise NotImplementedError

    check("0.1", conv_output_size)
    assert capsys.readouterr().out == "0.1: not attempted\n"


def test_an_answer_that_calls_an_unsolved_stub_fails_and_names_it(capsys):
    """C.3 written on top of an unsolved C.1: the answer is attempted, and the verdict says which
    function is still a stub (a class's own stub method counts as not attempted)."""
    def bilinear_interpolate(*args):
        raise NotImplementedError

    def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
        return bilinear_interpolate(size)

    class Stub:
        def __call__(self, *args, **kwargs):
            raise NotImplementedError

    check("0.1", conv_output_size)
    out = capsys.readouterr().out
    assert out.startswith("0.1 conv_output_size: ✗ calls ")
    assert "bilinear_interpolate, which raises NotImplementedError" in out
    check("0.1", Stub())
    assert capsys.readouterr().out == "0.1: not attempted\n"


def test_unsolved_dependency_is_judged_by_where_the_error_was_raised():
    def stub():
        raise NotImplementedError

    def outer():
        def inner():
            raise NotImplementedError
        return inner()

    def caller():
        return stub()

    for candidate, expected in ((stub, None), (outer, None), (caller, stub.__qualname__)):
        try:
            candidate()
        except NotImplementedError as error:
            assert unsolved_dependency(candidate, error) == expected, candidate


def test_a_crashing_solution_is_reported_not_raised(capsys):
    check("0.2", lambda layers: layers[99])
    assert capsys.readouterr().out.startswith("0.2 receptive_field: ✗ IndexError")


def test_unknown_exercise(capsys):
    check("Z.9", conv_output_size)
    out = capsys.readouterr().out
    assert out.startswith("Z.9: ✗ unknown exercise id") and "0.1" in out


def test_rel_error_is_cs231n_formula():
    x, y = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    assert rel_error(x, y) == pytest.approx(1 / 5)
    assert rel_error(0.0, 0.0) == 0.0


def test_compare_values_names_the_key_of_a_dict_that_differs():
    with pytest.raises(CheckFailed, match=r"case 1, b: rel_error 0.5 > 1e-05"):
        compare_values({"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 3.0}, "case 1")
    with pytest.raises(CheckFailed, match=r"expected \['a'\], got list"):
        compare_values([1.0], {"a": 1.0}, "case 1")


def test_an_id_defined_twice_is_refused():
    twin = Exercise("0.1", "twin", conv_output_size, lambda g: [])
    with pytest.raises(ValueError, match="exercise id '0.1' is defined twice"):
        build_registry([*REGISTRY.values(), twin])


@pytest.mark.parametrize("exercise", REGISTRY.values(), ids=lambda e: e.id)
def test_cases_are_plain_data_that_follow_the_seed(exercise):
    """What the grader sends to a kernel must survive torch.load(weights_only=True), and another
    seed must give other inputs (answers written for the seed-0 cases then fail)."""
    def saved(cases):
        buffer = io.BytesIO()
        torch.save(cases, buffer)
        return buffer.getvalue()

    seed0 = exercise.cases(torch.Generator().manual_seed(0))
    loaded = torch.load(io.BytesIO(saved(seed0)), weights_only=True)
    assert verify(exercise, exercise.reference, torch.Generator().manual_seed(0)).startswith(("matches", "right"))
    assert len(loaded) == len(seed0)
    assert saved(exercise.cases(torch.Generator().manual_seed(1))) != saved(seed0)
    assert saved(exercise.cases(torch.Generator().manual_seed(0))) == saved(seed0)


def test_the_grader_scores_an_answer_on_an_unsolved_stub_as_failed_not_unattempted(tmp_path):
    """The grading kernel's side (``probe.answer``) judges like ``check``: a stub is "not attempted",
    an answer that calls an unsolved earlier exercise is "failed", with the stub's name."""
    from course_lib.grading.probe import FAILED, NOT_ATTEMPTED, answer

    cases = tmp_path / "cases.pt"
    torch.save(REGISTRY["0.1"].cases(torch.Generator().manual_seed(1)), cases)

    def bilinear_interpolate(*args):
        raise NotImplementedError

    def on_a_stub(size, kernel_size, stride=1, padding=0, dilation=1):
        return bilinear_interpolate(size)

    def a_stub(size, kernel_size, stride=1, padding=0, dilation=1):
        raise NotImplementedError

    verdicts = {}
    for candidate in (on_a_stub, a_stub):
        out = tmp_path / f"{candidate.__name__}.pt"
        answer("0.1", {"conv_output_size": candidate}, str(cases), str(out))
        verdicts[candidate.__name__] = torch.load(out, weights_only=True)["results"][0]
    assert verdicts["a_stub"] == {"error": NOT_ATTEMPTED, "message": ""}
    assert verdicts["on_a_stub"]["error"] == FAILED
    assert "bilinear_interpolate, which raises NotImplementedError" in verdicts["on_a_stub"]["message"]
