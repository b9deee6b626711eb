"""The runner executes notebooks in order, stops at the first failure, resumes, and refuses to render
a notebook that holds an error."""
import json

import nbformat
import pytest

from lowcov import book


def make_notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "demo"\nforce = False\nmarker = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(nbformat.writes(nb))


@pytest.fixture
def book_dirs(tmp_path, monkeypatch):
    notebooks, executed = tmp_path / "notebooks", tmp_path / "executed"
    notebooks.mkdir()
    monkeypatch.setattr(book, "EXECUTED_DIR", executed)
    monkeypatch.setattr(book, "STATE_FILE", executed / "run-state.json")
    # the library's own code is not under test here (and may change while tests run)
    monkeypatch.setattr(book, "library_fingerprint", lambda: "fixed")
    return notebooks, executed


def test_stops_at_failure_keeps_error_copy_and_resumes(book_dirs, tmp_path, capsys):
    notebooks, executed = book_dirs
    log = tmp_path / "ran.txt"
    make_notebook(notebooks / "01_first.ipynb", f"open({str(log)!r}, 'a').write('1')")
    make_notebook(notebooks / "02_second.ipynb", "raise ValueError('stage output missing')")
    make_notebook(notebooks / "03_third.ipynb", f"open({str(log)!r}, 'a').write('3')")
    found = book.discover(notebooks)
    assert [n.number for n in found] == ["01", "02", "03"]

    assert book.execute(found, {"profile": "demo"}) is False
    assert log.read_text() == "1"  # 03 never ran
    errors = book.error_outputs(executed / "02_second.ipynb")
    assert errors and errors[0][1] == "ValueError"
    assert "02_second" in capsys.readouterr().err
    assert book.build_html(found) is False  # refuses the notebook with an error

    make_notebook(notebooks / "02_second.ipynb", f"open({str(log)!r}, 'a').write('2')")
    assert book.execute(found, {"profile": "demo"}) is True
    assert log.read_text() == "123"  # 01 was up to date, 02 and 03 ran
    assert book.execute(found, {"profile": "demo"}) is True
    assert log.read_text() == "123"  # nothing changed: nothing re-ran
    state = json.loads((executed / "run-state.json").read_text())
    assert set(state) == {"01_first.ipynb", "02_second.ipynb", "03_third.ipynb"}
    # changed parameters re-run everything
    assert book.execute(found, {"profile": "demo", "marker": "y"}) is True
    assert log.read_text() == "123123"


def test_parameters_are_injected(book_dirs):
    notebooks, executed = book_dirs
    make_notebook(notebooks / "01_only.ipynb", "assert marker == 'injected', marker")
    assert book.execute(book.discover(notebooks), {"marker": "injected"}) is True
    cells = json.loads((executed / "01_only.ipynb").read_text())["cells"]
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)


def test_repository_notebooks_are_numbered_clean_and_parameterised():
    found = book.discover()
    assert [n.number for n in found][:2] == ["01", "02"]
    for notebook in found:
        nb = json.loads(notebook.source.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), notebook.source
        tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1 and "profile" in "".join(tagged[0]["source"]), notebook.source


def test_refuses_to_run_another_checkouts_book_from_its_directory(tmp_path, monkeypatch, capsys):
    """A second clone run with the first clone's installed lowcov would execute and overwrite the first
    clone's book: the command says so and runs nothing."""
    clone = tmp_path / "clone"
    (clone / "lib" / "lowcov").mkdir(parents=True)
    (clone / "lib" / "lowcov" / "book.py").write_text("")
    (clone / "notebooks").mkdir()
    (clone / "book").mkdir()
    monkeypatch.chdir(clone / "book")
    assert book.other_checkout(clone / "book") == clone
    assert book.main(["--only", "01", "--no-build"]) == 2
    assert f"PYTHONPATH={clone / 'lib'}" in capsys.readouterr().err
    assert book.other_checkout(book.REPO_ROOT / "notebooks") is None
    assert book.other_checkout(tmp_path) is None
