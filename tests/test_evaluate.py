"Evaluate stage: honest figures on REAL photos, McNemar between models, and clear errors."
import json
import numpy as np, pytest
from remyx_nb.core import RemyxError
from remyx_nb.evaluate import classification_metrics, mcnemar, bootstrap_ci


def one_line(r):
    lines = r.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("remyx-nb: error:") and "Traceback" not in r.stderr


def test_evaluate_forklift_on_real_photos_beats_the_linear_probe(forklift_model_dir, shared_datasets, tmp_path, cli):
    r = cli("evaluate", forklift_model_dir, shared_datasets/"forklift_person"/"test", "-o", tmp_path/"ev")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path/"ev"/"metrics.json").read_text())
    assert m["n"] == 222 and m["labels"] == ["forklift", "person"]
    assert m["accuracy"] >= 212/222   # linear-probe baseline 0.959 = 213/222 (all train images); one image of numeric slack
    lo, hi = m["ci95"]; assert lo <= m["accuracy"] <= hi and hi - lo < 0.1
    assert set(m["per_class"]) == {"forklift", "person"}
    assert m["per_class"]["forklift"]["support"] == 139 and m["per_class"]["person"]["support"] == 83
    assert all(0.85 <= m["per_class"][c][k] <= 1 for c in m["per_class"] for k in ("precision", "recall", "f1"))
    assert abs(m["macro_f1"] - np.mean([v["f1"] for v in m["per_class"].values()])) < 1e-9
    assert np.array(m["confusion"]).sum() == 222 and np.trace(m["confusion"]) == round(m["accuracy"]*222)
    assert (tmp_path/"ev"/"confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert len((tmp_path/"ev"/"predictions.jsonl").read_text().splitlines()) == 222
    # the same model twice: no disagreement, p = 1; the folder is not overwritten
    r2 = cli("evaluate", forklift_model_dir, shared_datasets/"forklift_person"/"test", "-o", tmp_path/"ev")
    assert r2.returncode == 2 and one_line(r2) and "already holds an evaluation" in r2.stderr


def test_evaluate_bad_inputs_one_line_exit_2(forklift_model_dir, shared_datasets, tmp_path, cli):
    r = cli("evaluate", forklift_model_dir, shared_datasets/"hymenoptera"/"val", "-o", tmp_path/"a")
    assert r.returncode == 2 and one_line(r) and "does not know" in r.stderr
    (tmp_path/"nomodel").mkdir()
    r = cli("evaluate", tmp_path/"nomodel", shared_datasets/"forklift_person"/"test", "-o", tmp_path/"b")
    assert r.returncode == 2 and one_line(r) and "has no model.ckpt" in r.stderr
    assert not (tmp_path/"a"/"metrics.json").exists() and not (tmp_path/"b"/"metrics.json").exists()


def test_metrics_by_hand():
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ["a", "b", "c"], n_boot=500)
    assert m["accuracy"] == pytest.approx(4/6)
    assert m["per_class"]["b"] == {"precision": pytest.approx(2/3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_bootstrap_ci_covers_and_narrows():
    rng = np.random.default_rng(0)
    small, big = rng.random(50) < 0.9, rng.random(2000) < 0.9
    (a, b), (c, d) = bootstrap_ci(small), bootstrap_ci(big)
    assert a < small.mean() < b and c < big.mean() < d and (d - c) < (b - a)/3


def test_mcnemar_exact():
    r = mcnemar([1]*40 + [1]*9 + [0]*1, [1]*40 + [0]*9 + [1]*1)
    assert (r["only_a"], r["only_b"]) == (9, 1) and r["p_value"] == pytest.approx(22/1024)
    assert mcnemar([1, 1, 0, 0], [1, 1, 0, 0])["p_value"] == 1.0
    with pytest.raises(RemyxError): mcnemar([1, 0, 1], [1, 0])
