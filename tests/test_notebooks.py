"""Every notebook with a `parameters` cell runs through papermill with the small CI parameters (nbdev-test runs them all in-process)."""
import json, pytest, yaml
from pathlib import Path
from remyx_nb.experiments.runner import run_notebook, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
CI = yaml.safe_load((ROOT/"papermill_runs/params/ci.yaml").read_text()) or {}
NBS = sorted(p for p in (ROOT/"nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and notebook_parameters(p))

def test_every_parameterised_notebook_has_ci_params():
    missing = [str(p.relative_to(ROOT)) for p in NBS if str(p.relative_to(ROOT)) not in CI]
    assert not missing, f"add CI parameters for {missing} to papermill_runs/params/ci.yaml"

# notebooks another test already runs end to end through papermill, with more checks: not run twice
RUN_ELSEWHERE = {"nbs/experiments/synthetic_to_real.ipynb": "tests/test_reports.py::test_demo_streams_one_line_per_arm_and_writes_a_readable_report (remyx-nb demo)"}

def test_notebooks_run_elsewhere_exist():
    assert all((ROOT/k).is_file() for k in RUN_ELSEWHERE)

@pytest.mark.parametrize("nb", [p for p in NBS if str(p.relative_to(ROOT)) not in RUN_ELSEWHERE], ids=lambda p: str(p.relative_to(ROOT/"nbs")))
def test_papermill_run(nb, tmp_path):
    d = run_notebook(nb, CI.get(str(nb.relative_to(ROOT)), {}), runs_dir=tmp_path, html=True)
    assert (d/nb.name).is_file() and (d/nb.with_suffix(".html").name).is_file()
    if (d/"metrics.json").exists():  # strict JSON: a bare NaN or Infinity is not JSON for most readers
        json.loads((d/"metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}"))
