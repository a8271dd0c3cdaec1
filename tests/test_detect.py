"Detection: spec task, the CLI's train/evaluate with --task detect on a tiny COCO folder, decoding raw outputs, bad inputs."
import json, math
from pathlib import Path
import numpy as np, pytest, torch
from remyx_nb.detect.data import toy_coco, read_coco, DetectionData
from remyx_nb.detect.model import Detector, decode, points, assign_targets


def one_line(r):
    lines = r.stderr.strip().splitlines()
    return r.returncode != 0 and len(lines) == 1 and lines[0].startswith("remyx-nb: error:") and "Traceback" not in r.stderr


def test_spec_task(cli):
    r = cli("spec", "Count forklifts and people in the aisle")
    assert r.returncode == 0 and "task: detect" in r.stdout and "image_size: 320" in r.stdout
    r = cli("spec", "Count forklifts and people in the aisle", "--task", "classify")
    assert r.returncode == 0 and "task: classify" in r.stdout
    assert "task: classify" in cli("spec", "tell ants from bees").stdout


def test_cli_train_and_evaluate_detect(cli, tmp_path):
    d = toy_coco(tmp_path/"toy", n=48, size=96)
    r = cli("train", d, "-o", tmp_path/"m", "--image-size", "64", "--batch-size", "4", "--time-budget", "25", "--val-frac", "0.25", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "detector for square, disc" in r.stdout   # inferred: a COCO folder without class folders
    info = json.loads((tmp_path/"m/labels.json").read_text())
    assert info["task"] == "detect" and info["image_size"] == 64 and info["strides"] == [8, 16, 32] and info["framing"] == "full"
    m = json.loads((tmp_path/"m/metrics.json").read_text())
    assert m["data"]["n_train"] + m["data"]["n_val"] == 48 and "map50" in m["val"]
    from remyx_nb.reference import Reference  # monitor's drift reference: the best box score of each held-out photo
    ref = Reference.load(tmp_path/"m/reference.npz")
    assert len(ref.conf) == m["data"]["n_val"] >= 10 and ref.features is None and ((0 <= ref.conf) & (ref.conf <= 1)).all()
    assert ref.labels == ["square", "disc"] and "held-out" in ref.source
    r = cli("evaluate", tmp_path/"m", d, "-o", tmp_path/"ev")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "mAP@0.5" in r.stdout and {"metrics.json", "pr.png", "grid.png", "predictions.jsonl"} <= {p.name for p in (tmp_path/"ev").iterdir()}
    e = json.loads((tmp_path/"ev/metrics.json").read_text())
    assert set(e["per_class"]) == {"square", "disc"} and 0 <= e["map"] <= e["map50"] <= 1
    # the deployment threshold: the held-out photos' best-F1 point when one exists, and evaluate reports the photos at it
    op = m["val"]["best_f1"]
    if op and op["f1"] > 0: assert math.isclose(info["deploy_thresh"], op["thresh"], abs_tol=1e-4) and e["at"]["thresh"] == info["deploy_thresh"]
    else: assert "deploy_thresh" not in info and e["at"]["thresh"] == 0.25
    assert "held-out" in info["deploy_thresh_why"] and "At the deployment threshold" in r.stdout


def test_cli_detect_bad_inputs(cli, tmp_path):
    (tmp_path/"cls/a").mkdir(parents=True); (tmp_path/"cls/b").mkdir(parents=True)
    r = cli("train", tmp_path/"cls", "-o", tmp_path/"m", "--task", "detect", "--quiet")
    assert one_line(r) and "annotations.coco.json" in r.stderr
    d = toy_coco(tmp_path/"toy", n=2, size=64)
    r = cli("train", d, "-o", tmp_path/"m2", "--image-size", "100", "--quiet")
    assert one_line(r) and "multiple of 32" in r.stderr
    (d/"annotations.coco.json").write_text("{not json")
    r = cli("train", d, "-o", tmp_path/"m3", "--task", "detect", "--quiet")
    assert one_line(r) and "not COCO detection json" in r.stderr


def test_decode_matches_assigned_boxes():
    "Raw outputs built from the targets of known boxes decode back to those boxes: the decoder mirrors the assigner."
    boxes, labels, S = np.array([[10, 12, 50, 60], [30, 5, 62, 30]], np.float32), np.array([0, 1]), 64
    cls, ltrb = assign_targets(boxes, labels, S)
    P, St = points(S); raw = np.full((1, 7, len(P)), -12, np.float32)
    pos = np.flatnonzero(cls >= 0); r = raw[0]
    r[:4, pos] = np.log(ltrb[pos]/St[pos, None]).T; r[4, pos] = 12; r[5 + cls[pos], pos] = 12
    out = decode(raw, S)[0]
    assert sorted(out["labels"].tolist()) == [0, 1]
    for b, l in zip(out["boxes"], out["labels"]): assert np.allclose(b, boxes[l], atol=1e-3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_detector_is_static_and_traceable():
    m = Detector(2, image_size=64, pretrained=False).eval()
    ts = torch.jit.trace(m, torch.zeros(1, 3, 64, 64))
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(ts(x), m(x), atol=1e-5)


def test_mixed_sources_weights(tmp_path):
    a, b = toy_coco(tmp_path/"a", n=6, seed=0), toy_coco(tmp_path/"b", n=6, seed=1)
    d = DetectionData([a, b], image_size=64, val_frac=0, sample_weights=[0.8, 0.2])
    p = d.weights(d.train_idx)
    assert np.isclose(p[d.src[d.train_idx] == 0].sum(), 0.8) and np.isclose(p.sum(), 1)


def test_composites_from_a_few_boxed_photos(cli, tmp_path):
    "`generate --generator composite` with a COCO folder as seeds and a detection spec: several labelled boxes per image, scenes keep theirs."
    from remyx_nb.detect.data import coco_shots
    d = toy_coco(tmp_path/"toy", n=8, size=96)
    counts = coco_shots(d, tmp_path/"few", shots=2, seed=0)
    assert all(v >= 2 for v in counts.values())
    spec = tmp_path/"spec.yaml"
    r = cli("spec", "Where are the squares and discs on the floor?", "--concepts", "square,disc", "--image-size", "96", "-o", spec)
    assert r.returncode == 0 and "task: detect" in spec.read_text(), r.stderr
    r = cli("generate", spec, "--generator", "composite", "--seed-images", tmp_path/"few", "--per-class", "8", "-o", tmp_path/"comp", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    names, recs = read_coco(tmp_path/"comp")
    assert names == ["square", "disc"] and len(recs) == 16
    assert max(len(r.boxes) for r in recs) >= 2                      # several objects per image
    assert {int(l) for r in recs for l in r.labels} == {0, 1}          # each box has its own class
    assert all(((r.boxes >= 0) & (r.boxes <= 96)).all() for r in recs)
    summary = json.loads((tmp_path/"comp/summary.json").read_text())
    assert summary["filter"]["agreement"].startswith("off")          # one label per image says little about a detection image
    r = cli("train", tmp_path/"few", tmp_path/"comp", "-o", tmp_path/"m", "--image-size", "64", "--batch-size", "4", "--time-budget", "20", "--val-frac", "0", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path/"m/metrics.json").read_text())
    assert [s["kind"] for s in m["data"]["sources"]] == ["real", "synthetic"], m["data"]
