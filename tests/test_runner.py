"""`remyx-nb run`: papermill into a fresh run folder with params, metrics, freeze and HTML; bad runs exit non-zero."""
import json, nbformat, yaml
from pathlib import Path

def _nb(path, body="assert n >= 0, 'n must be >= 0'\nfrom remyx_nb.core import save_metrics\nsave_metrics({'double': 2*n})"):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("print('before')"), nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path); return path

def test_run_makes_run_folder_and_never_overwrites(cli, tmp_path):
    nb = _nb(tmp_path/"exp.ipynb")
    runs = tmp_path/"runs"
    p1 = cli("run", nb, "-p", "n", "21", "--name", "same", "--runs-dir", runs)
    p2 = cli("run", nb, "-p", "n", "5", "--name", "same", "--runs-dir", runs)
    assert p1.returncode == 0 and p2.returncode == 0, p1.stderr + p2.stderr
    d1, d2 = Path(p1.stdout.strip().splitlines()[-1]), Path(p2.stdout.strip().splitlines()[-1])
    assert d1 != d2 and d1.name.endswith("same") and d1.parent == runs
    for f in ("exp.ipynb", "exp.html", "params.yaml", "metrics.json", "pip-freeze.txt"): assert (d1/f).is_file(), f
    assert json.loads((d1/"metrics.json").read_text()) == {"double": 42}
    assert json.loads((d2/"metrics.json").read_text()) == {"double": 10}
    assert yaml.safe_load((d1/"params.yaml").read_text())["parameters"] == {"n": 21}
    assert "papermill==" in (d1/"pip-freeze.txt").read_text()

def test_run_streams_the_notebook_output_and_renders_a_titled_report_without_code(cli, tmp_path):
    nb = _nb(tmp_path/"exp.ipynb")
    p = cli("run", nb, "-p", "n", "2", "--runs-dir", tmp_path/"runs")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "before"  # what the notebook printed, as it printed it
    assert "Executing" not in p.stderr and "without encryption" not in p.stderr  # no per-cell bar, no kernel log
    d = Path(p.stdout.strip().splitlines()[-1])
    html = (d/"exp.html").read_text()
    assert f"<title>exp ({d.name})</title>" in html and "save_metrics" not in html
    p = cli("run", nb, "--show-code", "--runs-dir", tmp_path/"runs")
    assert "save_metrics" in (Path(p.stdout.strip().splitlines()[-1])/"exp.html").read_text()

def test_params_file_and_override(cli, tmp_path):
    nb = _nb(tmp_path/"exp.ipynb")
    (tmp_path/"p.yaml").write_text("n: 3\n")
    p = cli("run", nb, "-f", tmp_path/"p.yaml", "--runs-dir", tmp_path/"runs")
    assert p.returncode == 0, p.stderr
    assert json.loads((Path(p.stdout.strip().splitlines()[-1])/"metrics.json").read_text()) == {"double": 6}

def test_unknown_parameter_refused(cli, tmp_path):
    nb = _nb(tmp_path/"exp.ipynb")
    p = cli("run", nb, "-p", "no_such_name", "1", "--runs-dir", tmp_path/"runs")
    assert p.returncode == 2 and "Unknown parameter 'no_such_name'" in p.stderr
    assert len(p.stderr.strip().splitlines()[-1:]) == 1 and "Traceback" not in p.stderr
    assert not (tmp_path/"runs").exists() or not any((tmp_path/"runs").iterdir())

def test_failing_notebook_keeps_partial_report(cli, tmp_path):
    nb = _nb(tmp_path/"exp.ipynb")
    p = cli("run", nb, "-p", "n", "-4", "--runs-dir", tmp_path/"runs")
    assert p.returncode == 2
    last = p.stderr.strip().splitlines()[-1]
    assert "failed in cell" in last and "n must be >= 0" in last and "Traceback" not in p.stderr
    (d,) = list((tmp_path/"runs").iterdir())
    out = nbformat.read(d/"exp.ipynb", 4)
    assert any("before" in o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert (d/"exp.html").is_file() and not (d/"metrics.json").exists()

def test_missing_notebook(cli, tmp_path):
    p = cli("run", tmp_path/"nope.ipynb", "--runs-dir", tmp_path/"runs")
    assert p.returncode == 2 and "does not exist" in p.stderr
