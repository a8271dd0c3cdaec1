"""Model updates on real photos: a worse candidate stays out, a better one is promoted; `watch` follows a promotion with one row per image."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from remyx_nb.core import image_folder
from remyx_nb.registry import Registry, lineage
from remyx_nb.registry.update import update

QUICK = dict(train_kwargs={"time_budget": 30, "finetune": "off"}, compile_kwargs={"bench_iters": 2, "max_images": 8})

def _subset(src, dst, per_class, flip=0.0, seed=0):
    "`per_class` photos of each class of `src` linked into `dst`; a share `flip` of them under the other class's name."
    classes, items = image_folder(src); rng = np.random.default_rng(seed)
    for ci, c in enumerate(classes):
        ps = [p for p, i in items if i == ci]
        for p in rng.choice(ps, per_class, replace=False):
            lab = classes[1 - ci] if rng.random() < flip else c
            (dst/lab).mkdir(parents=True, exist_ok=True); os.symlink(p, dst/lab/Path(p).name)
    return dst

@pytest.mark.slow
def test_update_keeps_a_worse_candidate_out_and_promotes_a_better_one(compiled_dir, forklift_model_dir, shared_datasets, tmp_path):
    test = shared_datasets/"forklift_person/test"
    reg = Registry(tmp_path/"reg", create=True)
    reg.add("aisle", compiled_dir, lineage(forklift_model_dir, metrics={"real_test": str(test)}), promote=True)
    # a candidate trained on 40 photos per class, 40 % of them mislabelled, for a false-alarm incident
    bad = _subset(shared_datasets/"forklift_person/train", tmp_path/"mislabelled", 40, flip=0.4)
    r = update(f"{tmp_path/'reg'}:aisle", "it confuses people with forklifts", [bad], only_new_data=True, say=lambda *a: None, **QUICK)
    print("\nworse:", r["live"]["accuracy"], "->", r["candidate"]["accuracy"], r["why"])
    assert not r["promote"] and reg.live("aisle") == "v1" and reg.state()["contexts"]["aisle"]["versions"] == ["v1", "v2"]
    assert r["candidate"]["accuracy"] < r["live"]["accuracy"] and r["paired"]["p_value"] < 0.05
    # the live model of another context saw 3 photos per class (`train --shots 3` on the whole folder); the candidate gets 30 more per class
    from remyx_nb.train import train
    from remyx_nb.compile import compile_model
    train([shared_datasets/"forklift_person/train"], tmp_path/"weak", shots=3, seed=1, **QUICK["train_kwargs"])
    compile_model(tmp_path/"weak", tmp_path/"weak_c", verbose=False, **QUICK["compile_kwargs"])
    reg.add("dock", tmp_path/"weak_c", lineage(tmp_path/"weak", metrics={"real_test": str(test)}), promote=True)
    more = _subset(shared_datasets/"forklift_person/train", tmp_path/"more", 30, seed=2)
    r = update(f"{tmp_path/'reg'}:dock", "it keeps missing forklifts", [more], say=lambda *a: None, **QUICK)
    print("better:", r["live"]["accuracy"], "->", r["candidate"]["accuracy"], r["why"])
    assert r["promote"] and reg.live("dock") == "v2" and r["concepts"]["classes"] == ["forklift"]
    rec = json.loads(next((tmp_path/"reg"/"dock"/"updates").glob("*/update.json")).read_text())
    for side in ("live", "candidate"): assert {"accuracy", "ci95", "n", "version"} <= set(rec[side])
    work = tmp_path/"reg"/"dock"/"updates"/Path(rec["candidate"]["model_dir"]).parent.name
    assert rec["data"] == [str(work/"live_shots"), str(more)] and rec["incident"]["kind"] == "missed" and {"p_value", "ci95", "difference"} <= set(rec["paired"])
    # it trained on the live model's own 3 photos per class and the 30 new ones, not on the whole folder the live model drew from
    live_real = json.loads((tmp_path/"weak"/"split.json").read_text())["real"]
    cand_real = json.loads((Path(rec["candidate"]["model_dir"])/"split.json").read_text())["real"]
    for c, ps in live_real.items():
        assert sorted(str(Path(p).resolve()) for p in ps) == sorted(str(p.resolve()) for p in (work/"live_shots"/c).iterdir())
        assert len(cand_real[c]) == 3 + 30
    assert reg.lineage("dock")["parent"] == "v1" and reg.lineage("dock")["data"][1]["hash"]

def _rows(p): return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []

def _wait(cond, what, timeout=90):
    t = time.time()
    while time.time() - t < timeout:
        if cond(): return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")

@pytest.mark.slow
def test_watch_follows_a_promotion_and_stops_cleanly_on_sigterm(compiled_dir, shared_datasets, tmp_path, cli):
    reg = Registry(tmp_path/"reg", create=True)
    reg.add("aisle", compiled_dir, promote=True); reg.add("aisle", compiled_dir)
    photos = sorted((shared_datasets/"forklift_person/test").rglob("*.jpg"))[:20]
    inbox, out = tmp_path/"inbox", tmp_path/"out"; inbox.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "remyx_nb.cli", "watch", str(inbox), "--model", f"{tmp_path/'reg'}:aisle",
                          "-o", str(out), "--every", "10", "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for q in photos[:10]: shutil.copy(q, inbox/q.name)
        _wait(lambda: len(_rows(out/"predictions.jsonl")) == 10, "the first 10 rows")
        assert cli("models", f"{tmp_path/'reg'}:aisle", "--promote", "v2").returncode == 0
        for q in photos[10:]: shutil.copy(q, inbox/q.name)
        _wait(lambda: len(_rows(out/"predictions.jsonl")) == 20, "the next 10 rows")
        p.send_signal(signal.SIGTERM); o, e = p.communicate(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 0, e[-2000:]
    rows = _rows(out/"predictions.jsonl")
    assert sorted(Path(r["path"]).name for r in rows) == sorted(q.name for q in photos)  # each image exactly once
    assert [r["model"] for r in rows] == ["aisle@v1"]*10 + ["aisle@v2"]*10
    assert sum(r["n"] for r in _rows(out/"drift.jsonl")) == 20
    # started again, it writes nothing twice
    r = cli("watch", inbox, "--model", f"{tmp_path/'reg'}:aisle", "-o", out, "--max-idle", "2", "--poll", "0.2")
    assert r.returncode == 0 and len(_rows(out/"predictions.jsonl")) == 20, r.stderr

def test_predict_monitor_and_the_camera_open_a_registry_context(compiled_dir, shared_datasets, tmp_path, cli):
    from remyx_nb.deploy.oak import find_model
    reg = Registry(tmp_path/"reg", create=True); reg.add("aisle", compiled_dir, promote=True)
    photos = shared_datasets/"hymenoptera/val/ants"
    r = cli("predict", f"{tmp_path/'reg'}:aisle", photos, "-o", tmp_path/"p.jsonl", "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(_rows(tmp_path/"p.jsonl")) == len(list(photos.iterdir()))
    r = cli("monitor", f"{tmp_path/'reg'}:aisle@v1", photos, "-o", tmp_path/"m")
    assert r.returncode == 0 and json.loads(r.stdout)["drift"] is True, r.stderr
    assert find_model(f"{tmp_path/'reg'}:aisle")["path"] == tmp_path/"reg"/"aisle"/"v1"/"compiled"/"model.tar.xz"
    r = cli("predict", f"{tmp_path/'reg'}:dock", photos, "-o", tmp_path/"q.jsonl")
    assert r.returncode == 2 and "Context 'dock' is not in" in r.stderr and r.stderr.count("\n") == 1


def test_watch_a_recording_through_depthai_and_ask_for_a_camera_when_none_is_plugged_in(compiled_dir, shared_datasets, tmp_path, cli):
    "A video replayed by depthai's ReplayVideo: one row per frame, frames kept for review; `oak` without a device: one sentence."
    import cv2
    photos = sorted((shared_datasets/"forklift_person/test").rglob("*.jpg"))[:12]
    vid = tmp_path/"aisle.mp4"; vw = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"mp4v"), 10, (224, 224))
    for q in photos: vw.write(cv2.resize(cv2.imread(str(q)), (224, 224)))
    vw.release()
    r = cli("watch", vid, "--model", compiled_dir, "-o", tmp_path/"out", "--every", "6", "--stride", "2", "--poll", "0.2")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(tmp_path/"out/predictions.jsonl")
    assert [Path(x["path"]).name for x in rows] == [f"aisle_{k:08d}.jpg" for k in range(0, 12, 2)]
    assert all(Path(x["path"]).is_file() and x["label"] in ("forklift", "person") for x in rows)
    assert sum(x["n"] for x in _rows(tmp_path/"out/drift.jsonl")) == 6
    r = cli("watch", "oak", "--model", compiled_dir, "-o", tmp_path/"cam")
    assert r.returncode == 2 and "No OAK camera found" in r.stderr and r.stderr.count("\n") == 1, r.stderr

def test_update_judges_a_detector_photo_by_photo(tmp_path, cli):
    "A detector's context: `update` trains a detector on the live data + new boxes, judges both at their deployment thresholds on real photos (paired over photos) and records it."
    from remyx_nb.detect.data import toy_coco
    from remyx_nb.detect.train import DetRecipe, train_detector
    from remyx_nb.compile import compile_model
    names = ("forklift", "person")
    first, more, test = (toy_coco(tmp_path/n, n=k, size=96, seed=s, names=names) for n, k, s in (("first", 16, 1), ("more", 32, 2), ("test", 16, 3)))
    train_detector([first], tmp_path/"live", DetRecipe(image_size=64, batch_size=4), budget=10, val_frac=0.25, progress=False)
    compile_model(tmp_path/"live", tmp_path/"live_c", verbose=False, bench_iters=2, max_images=8, data=test)
    r = cli("models", f"{tmp_path/'reg'}:dock", "--add", tmp_path/"live_c", "--real-test", tmp_path/"nope")
    assert r.returncode == 2 and "--real-test" in r.stderr and "not a folder" in r.stderr and not (tmp_path/"reg").exists()
    r = cli("models", f"{tmp_path/'reg'}:dock", "--add", tmp_path/"live_c", "--model", tmp_path/"live", "--real-test", test, "--promote")
    assert r.returncode == 0, r.stderr
    reg = Registry(tmp_path/"reg")
    assert [d["path"] for d in reg.lineage("dock")["data"]] == [str(first)]  # a detector's lineage names its data
    assert reg.lineage("dock")["metrics"]["real_test"] == str(test.resolve())  # and the photos it is judged on
    r = cli("update", f"{tmp_path/'reg'}:dock", "it keeps missing persons", "--data", more, "--time-budget", 15)  # no --real-test: the recorded one
    assert r.returncode == 0, r.stderr[-3000:]
    assert "dock@v2" in r.stdout and "overall F1" in r.stdout
    (u,) = (tmp_path/"reg"/"dock"/"updates").glob("*/update.json")
    rec = json.loads(u.read_text())
    assert rec["data"] == [str(first), str(more)] and rec["concepts"]["classes"] == ["person"] and rec["concepts"]["n"] > 0
    for side in ("live", "candidate"):
        f = rec[side]; assert f["n"] == 16 and 0 <= f["f1"] <= 1 and 0 <= f["map50"] <= 1 and 0 < f["deploy_thresh"] < 1
    assert 0 <= rec["candidate"]["val_map50"] <= 1 and rec["candidate"]["val_n_real"] > 0  # what its own validation photos said
    p = rec["paired"]; assert p["n_photos"] == 16 and p["ci95"][0] <= p["difference"] <= p["ci95"][1]
    assert rec["promote"] == (reg.live("dock") == "v2")
    assert json.loads((tmp_path/"reg"/"dock"/"v2"/"lineage.json").read_text())["parent"] == "v1"
