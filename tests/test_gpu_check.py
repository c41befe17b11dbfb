"""scripts/gpu_check.py: which notebooks it runs, what it reads from them, and what it says without a GPU."""
import nbformat
import pytest

from script_module import load_script

gpu_check = load_script("gpu_check")


def test_without_a_gpu_it_says_so_and_exits_2_before_running_anything(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "accelerator", lambda: None)
    monkeypatch.setattr(gpu_check, "run", lambda *a, **k: pytest.fail("ran a notebook without a GPU"))
    assert gpu_check.main([]) == 2
    out = capsys.readouterr().out
    assert "no GPU here" in out and "CUDA" in out and "MPS" in out


def test_on_this_machine_accelerator_agrees_with_torch():
    import torch

    expected = torch.cuda.is_available() or torch.backends.mps.is_available()
    assert (gpu_check.accelerator() is not None) == expected


def test_notebooks_are_chosen_by_name_or_number_prefix():
    assert [p.stem for p in gpu_check.select(["04"])] == ["04_mask_rcnn"]
    assert [p.stem for p in gpu_check.select(["05a", "11_super_resolution"])] == [
        "05a_developments", "11_super_resolution"]
    assert len(gpu_check.select([])) == len(list(gpu_check.SOLUTIONS.glob("[0-9]*.ipynb")))
    with pytest.raises(SystemExit, match="no solution notebook called '99'.*00_welcome"):
        gpu_check.select(["99"])


def test_the_headline_is_what_the_last_paper_table_cell_printed():
    table = nbformat.v4.new_code_cell("print(paper_table(rows))")
    table.outputs = [nbformat.v4.new_output("stream", name="stdout", text="  paper says  we measured\nx  1  2\n")]
    def loss_cell():
        cell = nbformat.v4.new_code_cell("print('loss 0.1')")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="loss 0.1\n")]
        return cell

    nb = nbformat.v4.new_notebook(cells=[loss_cell(), table, loss_cell()])
    assert gpu_check.headline(nb) == "paper says  we measured\nx  1  2"
    assert gpu_check.headline(nbformat.v4.new_notebook(cells=[loss_cell()])) == ""


def test_every_solution_notebook_has_a_headline_cell():
    for path in gpu_check.select([]):
        nb = nbformat.read(path, as_version=4)
        if path.stem != "00_welcome":
            assert any(map(gpu_check.is_headline_cell, nb.cells)), path.stem


@pytest.mark.slow
def test_a_run_reports_time_first_error_and_headline_from_a_fresh_full_mode_kernel(tmp_path):
    cells = [nbformat.v4.new_code_cell("import os\nfrom course_lib.viz import paper_table\n"
                                       "print(paper_table([('mode', 'full', os.environ['COURSE_MODE'])]))"),
             nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}),
                   tmp_path / "99_tiny.ipynb")
    result = gpu_check.run(tmp_path / "99_tiny.ipynb", timeout=60)
    assert result["status"] == "error" and result["error"] == "ValueError: boom"
    assert result["headline"].splitlines()[-1].split() == ["mode", "full", "full"]
    assert result["seconds"] > 0
