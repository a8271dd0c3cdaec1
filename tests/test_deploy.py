"Deploy stage: batch prediction over a path column, drift on real photos, the review → merge → retrain loop, Ray, OAK offline."
import json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest
from remyx_nb.core import RemyxError, image_folder, list_images, frame_image, load_rgb
from remyx_nb.deploy.predict import Predictor, predict_paths, iter_paths, read_predictions, predict_batch, ModelRegistry


def _test_items(shared):
    classes, items = image_folder(shared/"forklift_person/test")
    return classes, [(str(p), classes[i]) for p, i in items]


def _lake_csv(tmp_path, shared):
    "A CSV 'data lake' table: the real test photos as a path column (plus a missing path and an extra column)."
    _, items = _test_items(shared)
    paths = [p for p, _ in items] + [str(tmp_path/"gone"/"missing.jpg")]
    df = pd.DataFrame({"image_path": paths, "site": ["dock"]*len(paths)})
    df.to_csv(tmp_path/"lake.csv", index=False)
    return tmp_path/"lake.csv", dict(items), paths


@pytest.fixture(scope="module")
def torch_accuracy(forklift_model_dir, shared_datasets):
    "Accuracy of the trained model on the real test photos, computed the way the evaluate stage does (torch, the model's framing)."
    import torch
    from remyx_nb.train import load_model
    from remyx_nb.backbones import to_tensor
    model, info = load_model(forklift_model_dir)
    classes, items = _test_items(shared_datasets)
    correct = 0
    with torch.no_grad():
        for b in range(0, len(items), 32):
            chunk = items[b:b+32]
            x = to_tensor([frame_image(load_rgb(p), info["image_size"], info["framing"]) for p, _ in chunk])
            pred = model(x).argmax(1).tolist()
            correct += sum(info["labels"][k] == y for k, (_, y) in zip(pred, chunk))
    return correct/len(items)


def test_predict_csv_column_one_row_per_input_and_evaluate_accuracy(compiled_dir, shared_datasets, tmp_path, cli, torch_accuracy):
    csv, truth, paths = _lake_csv(tmp_path, shared_datasets)
    out = tmp_path/"preds.jsonl"
    r = cli("predict", compiled_dir, "--csv", csv, "--column", "image_path", "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    rows = read_predictions(out)
    assert [x["path"] for x in rows] == paths                      # one row per input, in order
    bad = [x for x in rows if x["error"]]
    assert [x["path"] for x in bad] == [paths[-1]] and bad[0]["label"] is None and "does not exist" in bad[0]["error"]
    ok = [x for x in rows if not x["error"]]
    assert all(len(x["topk"]) == 2 and x["topk"][0]["label"] == x["label"] for x in ok)
    acc = np.mean([x["label"] == truth[x["path"]] for x in ok])
    print(f"\nOpenVINO FP16 accuracy {acc:.4f} vs evaluate-stage (torch) {torch_accuracy:.4f} on {len(ok)} real photos")
    assert acc > 0.9
    assert abs(acc - torch_accuracy) <= 2/len(ok)                # at most two photos flip between torch and the IR
    # rerunning resumes: nothing is predicted twice, nothing is lost
    r = cli("predict", compiled_dir, "--csv", csv, "--column", "image_path", "-o", out, "--quiet")
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["new"] == 0
    assert read_predictions(out) == rows


def test_predict_parquet_folder_and_glob_agree(compiled_dir, shared_datasets, tmp_path):
    pred = Predictor(compiled_dir)
    folder = shared_datasets/"forklift_person/test/person"
    files = [str(p) for p in list_images(folder)][:12]
    pd.DataFrame({"p": files}).to_parquet(tmp_path/"lake.parquet")
    predict_paths(pred, iter_paths(tmp_path/"lake.parquet", "p"), tmp_path/"a.parquet", batch_size=5, progress=False)
    predict_paths(pred, files, tmp_path/"b.jsonl", batch_size=12, workers=1, progress=False)
    a, b = read_predictions(tmp_path/"a.parquet"), read_predictions(tmp_path/"b.jsonl")
    assert [x["path"] for x in a] == files and [x["label"] for x in a] == [x["label"] for x in b]
    np.testing.assert_allclose([x["score"] for x in a], [x["score"] for x in b], atol=1e-3)  # batch size changes nothing
    assert list(iter_paths(str(folder/"*.jpg")))[:12] == [f for f in files if f.endswith(".jpg")][:12]


def test_int8_and_registry_switch_models_per_context(compiled_dir, shared_datasets, tmp_path):
    if not (compiled_dir/"openvino/model_int8.xml").exists(): pytest.skip("the compiled fixture has no INT8 IR")
    files = [str(p) for p in list_images(shared_datasets/"forklift_person/test/forklift")][:16]
    reg = ModelRegistry().register("day", compiled_dir)
    reg.save(tmp_path/"registry.json")
    reg = ModelRegistry.load(tmp_path/"registry.json")
    fp16 = reg.predict(files, "day")
    int8 = predict_batch(Predictor(compiled_dir, "int8"), files)
    assert np.mean([a["label"] == b["label"] for a, b in zip(fp16, int8)]) >= 0.9
    with pytest.raises(RemyxError, match="Unknown context 'night'"): reg.predictor("night")


@pytest.mark.parametrize("args,msg", [
    (["--csv", "{lake}", "--column", "nope"], "has no column 'nope'"),
    (["--csv", "{lake}"], "--column"),
    (["{imgs}", "--csv", "{lake}", "--column", "image_path"], "exactly one of"),
    (["{imgs}", "-o", "{tmp}/preds.txt"], ".jsonl or .parquet"),
])
def test_predict_bad_inputs_one_line(compiled_dir, shared_datasets, tmp_path, cli, args, msg):
    csv, _, _ = _lake_csv(tmp_path, shared_datasets)
    fill = dict(lake=csv, imgs=shared_datasets/"forklift_person/test", tmp=tmp_path)
    args = [a.format(**fill) for a in args]
    if "-o" not in args: args += ["-o", str(tmp_path/"p.jsonl")]
    r = cli("predict", compiled_dir, *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr
    assert not (tmp_path/"p.jsonl").exists()


def test_predict_missing_compiled_dir(tmp_path, cli):
    (tmp_path/"imgs").mkdir()
    r = cli("predict", tmp_path/"nope", tmp_path/"imgs", "-o", tmp_path/"p.jsonl")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "remyx-nb compile" in r.stderr


def test_drift_knows_its_model_no_drift_on_held_out_photos_but_on_hymenoptera(compiled_dir, shared_datasets, tmp_path, cli):
    "No --reference: the reference train measured, carried by compile. Held-out forklift/person photos are no drift; ants and bees are."
    r = cli("monitor", compiled_dir, shared_datasets/"forklift_person/test", "-o", tmp_path/"same")
    assert r.returncode == 0, r.stderr
    same = json.loads((tmp_path/"same/drift.json").read_text())
    r = cli("monitor", compiled_dir, shared_datasets/"hymenoptera/val", "-o", tmp_path/"bees")
    assert r.returncode == 0, r.stderr
    bees = json.loads((tmp_path/"bees/drift.json").read_text())
    print("\nheld-out:", {k: same[k] for k in ("drift", "psi", "low_conf_rate", "ood_rate")},
          "\nhymenoptera:", {k: bees[k] for k in ("drift", "psi", "low_conf_rate", "ood_rate")})
    assert same["drift"] is False and bees["drift"] is True
    assert bees["ood_rate"] > 0.5 > same["ood_rate"] and "real photos" in same["reference"]
    assert (tmp_path/"bees/confidence.png").stat().st_size > 0 and (tmp_path/"bees/drift.png").stat().st_size > 0
    assert bees["flagged"] > 0 and len((tmp_path/"bees/review/manifest.jsonl").read_text().splitlines()) == bees["flagged"]
    # an existing report is never overwritten
    r = cli("monitor", compiled_dir, shared_datasets/"hymenoptera/val", "-o", tmp_path/"bees")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "already holds a drift report" in r.stderr

def test_the_reference_train_wrote_is_in_the_compiled_models_feature_space(compiled_dir, forklift_model_dir, shared_datasets):
    "Every training photo's IR features sit on one of the reference's (it holds them all): train's features are the network's."
    from remyx_nb.reference import Reference, knn_distance
    from remyx_nb.deploy.monitor import infer
    ref = Reference.load(compiled_dir/"reference.npz")
    assert (forklift_model_dir/"reference.npz").read_bytes() == (compiled_dir/"reference.npz").read_bytes()
    photos = list_images(shared_datasets/"forklift_person/train", recursive=True)[::25]
    inf = infer(Predictor(compiled_dir), photos)
    d = knn_distance(ref.features, inf.features, k=1)
    # the IR runs in the CPU's default precision (bf16 on a CPU with AMX: ~3 digits), so allow that much noise
    assert np.median(d) < 5e-3 and d.max() < 2e-2, (np.median(d), d.max())
    assert len(ref.conf) == len(list_images(shared_datasets/"forklift_person/train", recursive=True))

def test_a_compiled_model_without_a_reference_asks_for_one(compiled_dir, shared_datasets, tmp_path, cli):
    old = tmp_path/"old"; shutil.copytree(compiled_dir, old); (old/"reference.npz").unlink(); (old/"parity.json").unlink()
    r = cli("monitor", old, shared_datasets/"forklift_person/test", "-o", tmp_path/"m")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pass --reference" in r.stderr

def test_review_merge_retrain_round_trip(compiled_dir, forklift_model_dir, shared_datasets, tmp_path):
    "Flagged ants/bees are reviewed as 'other', merged, and the retrained model recognises unseen ants/bees as 'other'."
    from remyx_nb.deploy.monitor import monitor
    from remyx_nb.review import read_manifest, label_review, merge_reviewed
    from remyx_nb.train import train
    from remyx_nb.compile import compile_model
    pred = Predictor(compiled_dir)
    rep = monitor(pred, list_images(shared_datasets/"hymenoptera/val", recursive=True), tmp_path/"mon",
                  reference=shared_datasets/"forklift_person/train", max_review=60)
    assert rep["drift"] and rep["flagged"] >= 40
    review = tmp_path/"mon/review"
    rows = read_manifest(review/"manifest.jsonl")
    label_review(review, {r["file"]: "other" for r in rows})          # the reviewer's verdict
    with pytest.raises(RemyxError, match="'other' is not one of forklift, person"):
        merge_reviewed(review, tmp_path/"ds", classes=pred.labels)  # a new class must be asked for
    s = merge_reviewed(review, tmp_path/"ds", classes=pred.labels, new_classes=True)
    assert s["added"] == len(rows) and merge_reviewed(review, tmp_path/"ds", new_classes=True)["added"] == 0
    m = train([shared_datasets/"forklift_person/train", tmp_path/"ds"], tmp_path/"model2", shots=30, finetune_epochs=0)
    assert json.loads((tmp_path/"model2/labels.json").read_text())["labels"] == ["forklift", "other", "person"]
    compile_model(tmp_path/"model2", tmp_path/"compiled2", data=tmp_path/"ds", bench_iters=2, max_images=8, verbose=False)
    unseen = [str(p) for p in list_images(shared_datasets/"hymenoptera/train", recursive=True)][::4]
    new = predict_batch(Predictor(tmp_path/"compiled2"), unseen)
    rate = np.mean([r["label"] == "other" for r in new])
    print(f"\nretrained on {s['added']} reviewed photos: {rate:.2f} of {len(unseen)} unseen ants/bees -> 'other' (before: 0)")
    assert rate > 0.8


def test_ray_rows_identical_to_local(compiled_dir, shared_datasets, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is the optional extra remyx_nb[ray]; pip install 'remyx_nb[ray]'")
    from remyx_nb.deploy.predict import predict_ray
    csv, _, paths = _lake_csv(tmp_path, shared_datasets)
    keep = paths[::10] + [paths[-1]]                                  # 23 photos and the missing path
    pd.DataFrame({"image_path": keep}).to_csv(csv, index=False)
    local = predict_batch(Predictor(compiled_dir), keep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = predict_ray(compiled_dir, csv, "image_path", actors=2, batch_size=8)
    finally: ray.shutdown()
    assert [r["path"] for r in remote] == keep
    assert [(r["label"], r["error"]) for r in remote] == [(r["label"], r["error"]) for r in local]
    np.testing.assert_allclose([r["score"] or 0 for r in remote], [r["score"] or 0 for r in local], atol=1e-4)


def test_oak_archive_decoder_and_no_device(compiled_dir, shared_datasets):
    from remyx_nb.deploy.oak import find_model, run_frames, run_camera, _dai
    if not (compiled_dir/"model.tar.xz").exists(): pytest.skip("the compiled fixture has no NN Archive")
    m = find_model(compiled_dir)
    assert m["kind"] == "archive" and m["labels"] == ["forklift", "person"] and m["image_size"] == 224
    pred = Predictor(compiled_dir)
    files = [str(p) for p in list_images(shared_datasets/"forklift_person/test/forklift")][:6]
    frames = [np.asarray(load_rgb(p)) for p in files]
    rows = run_frames(frames, pred, top_k=2)               # the camera's host side, fed offline
    assert [r["label"] for r in rows] == [r["label"] for r in predict_batch(pred, files)]
    if not _dai().Device.getAllAvailableDevices():
        with pytest.raises(RemyxError, match="No OAK camera found"): run_camera(compiled_dir, seconds=1)


def _same_rows(a, b, tol=1e-4):
    "Rows equal path by path: paths, labels, errors and top-k labels exactly, scores within `tol`."
    assert [r["path"] for r in a] == [r["path"] for r in b]
    assert [(r["label"], r["error"], [t["label"] for t in r["topk"] or []]) for r in a] == \
           [(r["label"], r["error"], [t["label"] for t in r["topk"] or []]) for r in b]
    sa = [s for r in a for s in [r["score"] or 0] + [t["score"] for t in r["topk"] or []]]
    sb = [s for r in b for s in [r["score"] or 0] + [t["score"] for t in r["topk"] or []]]
    np.testing.assert_allclose(sa, sb, atol=tol)


def test_fast_path_rows_equal_synchronous_path_in_order_and_resume(compiled_dir, shared_datasets, tmp_path):
    "predict_paths (threaded decode, fixed batches, async requests) = predict_batch (one synchronous call), row by row."
    _, items = _test_items(shared_datasets)
    (tmp_path/"torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a jpeg")
    paths = [p for p, _ in items]
    paths = paths[:50] + [str(tmp_path/"torn.jpg")] + paths[50:] + [str(tmp_path/"gone.jpg")]  # 224 paths: batches of 13 end short
    pred = Predictor(compiled_dir)
    sync = predict_batch(pred, paths)                                   # the plain synchronous path: no threads, one inference
    s = predict_paths(pred, paths, tmp_path/"fast.jsonl", batch_size=13, workers=2, progress=False)
    assert (s["new"], s["errors"]) == (len(paths), 2)
    fast = read_predictions(tmp_path/"fast.jsonl")
    _same_rows(fast, sync)
    assert [r["error"] is not None for r in fast].count(True) == 2 and fast[50]["label"] is None
    # resume: a run stopped after 4 batches (and a torn last line), then the whole list again
    predict_paths(pred, paths[:52], tmp_path/"resumed.jsonl", batch_size=13, progress=False)
    with open(tmp_path/"resumed.jsonl", "a") as f: f.write('{"path": "half a row')
    s = predict_paths(pred, paths, tmp_path/"resumed.jsonl", batch_size=32, progress=False)
    assert (s["skipped"], s["new"]) == (52, len(paths) - 52)
    _same_rows(read_predictions(tmp_path/"resumed.jsonl"), sync)


def test_draft_decode_keeps_labels_on_real_photos(compiled_dir, shared_datasets, monkeypatch):
    "JPEG draft mode against the full decode, on the real photos large enough for it (hymenoptera: 8 of 397)."
    from PIL import Image
    import remyx_nb.deploy.predict as P
    big = [p for p in list_images(shared_datasets/"hymenoptera", recursive=True) if min(Image.open(p).size) >= 512]
    assert len(big) >= 5
    pred = Predictor(compiled_dir)
    def check(paths, px, score):
        full = np.stack([P.decode_view(p, pred.size, draft=False) for p in paths])
        assert (full == np.stack([frame_image(load_rgb(p), pred.size) for p in paths])).all()  # draft off: the exact old decode
        for p in paths:
            with Image.open(p) as im: P._draft(im, pred.size, "crop"); assert min(im.size) < min(Image.open(p).size)  # drafted
        drafted = np.stack([P.decode_view(p, pred.size) for p in paths])
        assert np.abs(drafted.astype(int) - full).mean() < px                  # mean pixel difference, levels of 255
        a, b = P.decode_logits(pred(full)[0], pred.labels), P.decode_logits(pred(drafted)[0], pred.labels)
        assert [r["label"] for r in a] == [r["label"] for r in b]
        assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b)) < score
    # the default margin (2): photos with a short side >= 1024 decode at 1/2 scale, the rest exactly as before
    huge = [p for p in big if min(Image.open(p).size) >= 4*256]
    assert len(huge) >= 2
    check(huge, px=1, score=0.03)
    small = [p for p in big if p not in huge]
    assert (np.stack([P.decode_view(p, pred.size) for p in small]) == np.stack([P.decode_view(p, pred.size, draft=False) for p in small])).all()
    # margin 1 (decode down to the resize's own input size) still keeps the labels, with larger score moves: not the default
    monkeypatch.setattr(P, "DRAFT_MARGIN", 1)
    check(big, px=8, score=0.15)
