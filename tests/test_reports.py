"""The experiment report: what it compiles, how it words its verdicts, what the terminal shows, and Ctrl-C."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from remyx_nb.experiments.reports import (best_row, summarise, synthetic_gain, plot_accuracy_vs_shots, report_words,
                                          count_arms, demo_params)

ROOT = Path(__file__).resolve().parents[1]
ARM_LINE = re.compile(r"^\[(\d+)/(\d+)\] (.+), k=(\S+), seed (\d+): accuracy (\d\.\d{3}) \| elapsed [\d:]+, (about [\d:]+ left|all arms done)$")

def _row(arm, k, seed, acc, trained=True, correct=None):
    r = dict(arm=arm, k=k, seed=seed, accuracy=acc, ci_low=acc - .05, ci_high=acc + .05, macro_f1=acc, train_s=1.0)
    if trained: r.update(model_dir=f"arms/{arm}_{k}_{seed}/model", eval_dir=f"arms/{arm}_{k}_{seed}/eval")
    else: r.update(ci_low=float("nan"), ci_high=float("nan"), macro_f1=float("nan"), train_s=float("nan"))
    if correct is not None: r["correct"] = correct
    return r

def test_demo_refuses_a_lake_that_is_not_there(tmp_path):
    with pytest.raises(Exception, match="--lake /no/such/lake is not a folder"): demo_params(lake="/no/such/lake")
    assert demo_params(lake="train")["lake_dir"] == "train" and demo_params()["lake_dir"] == ""

def test_best_row_is_a_trained_arm_when_the_probe_scores_best():
    rows = [_row("synthetic only", 0, 0, .70),
            *[_row("real only", k, s, a) for k, s, a in [(5, 0, .90), (5, 1, .92), ("all", 0, .95), ("all", 1, .96)]],
            *[_row("synthetic + real", k, s, a) for k, s, a in [(5, 0, .91), (5, 1, .90), ("all", 0, .94), ("all", 1, .95)]],
            *[_row("linear probe", k, s, .99, trained=False) for k in (5, "all") for s in (0, 1)]]
    summary = summarise(rows)
    top = summary.sort_values("accuracy").iloc[-1]
    assert top["arm"] == "linear probe"  # the case that crashed the demo
    b = best_row(rows, summary)
    assert (b["arm"], b["k"], b["seed"]) == ("real only", "all", 0) and b["model_dir"]

def test_verdicts_use_a_paired_test():
    rng = np.random.default_rng(1)
    real = [rng.random(150) < .7 for _ in range(2)]
    better = [r | (rng.random(150) < .7) for r in real]  # right wherever real only is, and on most of the rest
    tie = []
    for r in real:
        t = r.copy(); t[:6] = ~t[:6]; tie.append(t)  # six images flip, both ways: no real difference
    rows = [_row("real only", k, s, real[s].mean(), correct=real[s]) for k in (5, 10) for s in (0, 1)]
    rows += [_row("synthetic + real", 5, s, better[s].mean(), correct=better[s]) for s in (0, 1)]
    rows += [_row("synthetic + real", 10, s, tie[s].mean(), correct=tie[s]) for s in (0, 1)]
    rows += [_row("linear probe", k, s, .8, trained=False) for k in (5, 10) for s in (0, 1)]
    gain, said = synthetic_gain(summarise(rows), rows)
    g5, g10 = gain.set_index("k").loc["5"], gain.set_index("k").loc["10"]
    assert g5.verdict == "synthetic data helped" and g5.diff_ci_low > 0 and g5.p_value < .05 and g5.n_paired == 300 and g5.seeds == 2
    assert g10.verdict == "no measurable difference" and g10.diff_ci_low < 0 < g10.diff_ci_high and g10.p_value > .05
    assert said[0].startswith("k=5: synthetic data helped: ") and "McNemar p = " in said[0] and "real test set" in said[0]
    assert re.match(r"k=10: no measurable difference: \d\.\d{3} vs \d\.\d{3} real only, [+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\], McNemar p = ", said[1]), said[1]

def test_standin_runs_name_their_test_set():
    w = report_words(standin=True)
    assert w["test_set"] == "stand-in (procedural) test set" and "real" not in " ".join(w.values())
    rows = [_row("real only", 5, 0, .8)]
    ax = plot_accuracy_vs_shots(summarise(rows), ylabel=f"accuracy ({w['test_set']})", xlabel=w["shots"]).axes[0]
    assert ax.get_ylabel() == "accuracy (stand-in (procedural) test set)" and ax.get_xlabel() == "stand-in shots per class"

def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "remyx_nb.cli", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)

@pytest.mark.slow
def test_demo_streams_one_line_per_arm_and_writes_a_readable_report(tmp_path):
    p = _cli("demo", "--shots", "0,5", "--images-per-class", "6", "--seeds", "0", "--no-blob", "--lake", "train", "--runs-dir", tmp_path)
    out, err = p.communicate(timeout=1500)
    assert p.returncode == 0, err[-3000:]
    arms = [m for m in map(ARM_LINE.match, out.splitlines()) if m]
    expected = count_arms(demo_params(shots="0,5")["shots"], [0], "procedural", lake=True)
    assert len(arms) == expected == 5, out
    assert [int(m[1]) for m in arms] == [1, 2, 3, 4, 5] and {m[2] for m in arms} == {"5"}
    assert sorted((m[3], m[4]) for m in arms) == [("linear probe", "5"), ("real + lake", "5"), ("real only", "5"),
                                                  ("synthetic + real", "5"), ("synthetic only", "0")]
    assert "real + lake (harvested from an index of the training photos, labels unused)" in out.splitlines()[0]
    assert re.search(r"^k=5: (the lake helped|the lake hurt|no measurable difference): real \+ lake", out, re.M), out
    assert "Executing" not in err and "Traceback" not in err  # no per-cell bar, no noise
    (run,) = list(tmp_path.iterdir())
    json.loads((run/"metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}"))  # strict JSON
    html = (run/"synthetic_to_real.html").read_text()
    assert re.search(r"<title>Synthetic to real: .* \(\d{8}T\d{6}Z-demo\)</title>", html)
    assert "computing…" not in html and "The question." in html  # the summary placeholder was filled
    assert html.index("The question.") < html.index("Table 1.")  # ... at the top
    assert "real test set" not in html and "stand-in (procedural) test set" in html
    assert "IProgress" not in html and "ipywidgets" not in html
    nb = json.loads((run/"synthetic_to_real.ipynb").read_text())
    noise = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not noise, noise  # no warnings in the report
    assert "best_row(rows, summary)" not in html and '"backends"' not in html  # no code, no JSON dumps
    assert "Best trained model: " in out and "Report: " in out.splitlines()[-1]

@pytest.mark.slow
def test_ctrl_c_in_demo_is_one_true_line(tmp_path):
    # a terminal's foreground job receives Ctrl-C; a job a script started with `&` inherits SIGINT ignored: reset it
    p = _cli("demo", "--shots", "0,5", "--images-per-class", "6", "--seeds", "0", "--no-blob", "--runs-dir", tmp_path, start_new_session=True,
             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []  # the plan, the report's path, then the first finished arm: from then on the arms' cell is running
        while not (seen and seen[-1].startswith("[1/")) and len(seen) < 10: seen.append(p.stdout.readline())
        assert seen[-1].startswith("[1/"), seen
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole foreground group
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)  # a failed check must not leave the demo running
    assert p.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) <= 3 and "Traceback" not in err, err[-3000:]
    (run,) = list(tmp_path.iterdir())
    assert lines[-1].startswith("remyx-nb demo: interrupted; ") and str(run) in lines[-1] and "does not resume" in lines[-1]
    assert "the same command resumes" not in err
    time.sleep(2)
    assert not _kernels_of(run)  # the kernel was stopped, not orphaned

def _kernels_of(run):
    "Live processes whose environment points REMYX_RUN_DIR at `run` (the runner sets it for the notebook's kernel)."
    found = []
    for d in Path("/proc").iterdir():
        try: env = (d/"environ").read_bytes().split(b"\0")
        except (OSError, ValueError): continue
        if f"REMYX_RUN_DIR={Path(run).resolve()}".encode() in env: found.append(d.name)
    return found
