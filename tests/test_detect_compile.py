"""compile/deploy for detectors: YOLO-layout outputs, parity (COCO mAP), blob + NN Archive with a YOLO head that depthai's
own DetectionParser decodes to the project's boxes, predict rows with boxes, monitor, and the channel order an OAK delivers."""
import json, math
from pathlib import Path
import numpy as np, pytest, torch
from remyx_nb.core import RemyxError, read_json, load_rgb, frame_image
from remyx_nb.detect.data import toy_coco, read_coco, load_view, ANNOTATIONS

S = 64
DEPLOY = 0.45  # the deployment threshold `train` would have chosen on held-out photos (labels.json's `deploy_thresh`)

def _toy_detector(out:Path, data:Path):
    "A deterministic detector: pretrained trunk, a seeded head with spread-out scores (no training: these tests check plumbing, not skill)."
    from remyx_nb.detect.model import LitDetector
    from remyx_nb.detect.train import _save_ckpt
    torch.manual_seed(0)
    lit = LitDetector(["square", "disc"], image_size=S).eval()
    with torch.no_grad():
        for c, sd in ((lit.net.cls, 10.0), (lit.net.ctr, 10.0), (lit.net.reg, 0.05)): c.weight.normal_(0, sd); c.bias.zero_()  # spread-out scores: no ties for NMS to order
    out.mkdir(parents=True); _save_ckpt(lit, out/"model.ckpt")
    info = {"task": "detect", "labels": ["square", "disc"], "image_size": S, "framing": "full", "input": "RGB",
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "backbone": "efficientnet_lite0", "strides": [8, 16, 32],
            "anchors": None, "score_thresh": 0.05, "iou": 0.6, "max_det": 100, "deploy_thresh": DEPLOY}
    (out/"labels.json").write_text(json.dumps(info))
    (out/"metrics.json").write_text(json.dumps({"task": "detect", "data": {"sources": [{"path": str(data)}]}}))
    return out

@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    "A toy detector compiled once: ONNX, IR FP16 + INT8, blob, NN Archive, parity on toy photos."
    from remyx_nb.compile import compile_model
    root = tmp_path_factory.mktemp("detc")
    data = toy_coco(root/"toy", n=12, size=96)
    model = _toy_detector(root/"model", data)
    out = root/"compiled"
    res = compile_model(model, out, int8=True, blob=True, archive=True, data=data, bench_iters=5, bench_seconds=0.2, verbose=False)
    return {"data": data, "model": model, "out": out, "res": res}

def _same_boxes(a, b, atol=1e-2):
    "Same detections, paired by label and position (near-equal scores may come in either order)."
    if len(a["boxes"]) != len(b["boxes"]): return False
    left = list(range(len(b["boxes"])))
    for box, l, s in zip(a["boxes"], a["labels"], a["scores"]):
        hit = [k for k in left if b["labels"][k] == l and abs(b["scores"][k] - s) < 1e-4 and np.abs(b["boxes"][k] - box).max() < atol]
        if not hit: return False
        left.remove(hit[0])
    return True

def _views(data, n=4):
    _, recs = read_coco(data)
    return [load_view(r, S)[0] for r in recs[:n]], recs[:n]

def test_exported_outputs_are_yolo_tlbr_and_decode_like_the_raw_output(toy):
    import onnx
    from remyx_nb.compile.detect import onnx_runner, decode_outputs, output_names
    from remyx_nb.detect.model import load_detector, decode
    g = onnx.load(toy["out"]/"model.onnx")
    assert [o.name for o in g.graph.output] == output_names() and g.opset_import[0].version == 11
    net, info = load_detector(toy["model"]); views, _ = _views(toy["data"])
    x = np.stack(views).transpose(0, 3, 1, 2)
    outs = onnx_runner(toy["out"]/"model.onnx")(x)
    assert [o.shape for o in outs] == [(4, 7, 8, 8), (4, 7, 4, 4), (4, 7, 2, 2)]
    mean, std = torch.tensor(info["mean"]).view(1, 3, 1, 1), torch.tensor(info["std"]).view(1, 3, 1, 1)
    with torch.no_grad(): raw = net((torch.from_numpy(x).float()/255 - mean)/std)
    for a, b in zip(decode(raw, S, score_thresh=0.3, max_det=1000), decode_outputs(outs, S, score_thresh=0.3, max_det=1000)):
        assert len(a["boxes"]) > 0 and _same_boxes(a, b)
    o = outs[1]  # channel 4 is the best class score; 0-3 positive distances in strides
    np.testing.assert_allclose(o[:, 4], o[:, 5:].max(1), atol=1e-6); assert (o[:, :4] > 0).all()

def test_parity_reports_map_per_runtime(toy):
    p = read_json(toy["out"]/"parity.json")
    assert p["task"] == "detect" and p["reference"] == "torch" and p["n_images"] == 12
    b = p["backends"]
    assert set(b) == {"torch", "onnx", "openvino_fp16", "openvino_fp16_cpu_default", "openvino_int8"}
    for k, r in b.items():
        assert 0 <= r["map"] <= r["map50"] <= 1 and "map50_depthai_parser" in r and set(r["per_class_ap50"]) == {"square", "disc"}
    assert b["onnx"]["max_abs_score_diff"] < 1e-3 and b["openvino_fp16"]["max_abs_score_diff"] < 0.05  # a seeded head with large weights: FP16 weights move scores a little
    assert abs(b["openvino_fp16"]["map50"] - b["torch"]["map50"]) <= 0.01
    assert read_json(toy["out"]/"benchmark.json")["runtimes"].keys() == {"torch_eager", "openvino_fp16", "openvino_int8"}

def test_blob_and_archive_name_the_yolo_parser(toy):
    import depthai as dai
    from remyx_nb.compile import blob as B
    info = B.blob_info(toy["out"]/"model.blob")
    assert info["inputs"] == {"image": {"shape": [1, 3, S, S], "dtype": "U8F"}}
    assert {k: v["shape"] for k, v in info["outputs"].items()} == {"output1_yolo": [1, 7, 8, 8], "output2_yolo": [1, 7, 4, 4], "output3_yolo": [1, 7, 2, 2]}
    a = B.read_nn_archive(toy["out"]/"model.tar.xz")
    assert (a["parser"], a["task"], a["labels"], a["input"]["dai_type"]) == ("YOLO", "detect", ["square", "disc"], "RGB888p")
    h = dai.NNArchive(str(toy["out"]/"model.tar.xz")).getConfig().model.heads[0]
    assert h.metadata.subtype == "yolov8" and h.metadata.yoloOutputs == ["output1_yolo", "output2_yolo", "output3_yolo"]
    assert h.metadata.nClasses == 2 and not h.metadata.anchors and math.isclose(h.metadata.confThreshold, DEPLOY, rel_tol=1e-6)

def test_depthai_detection_parser_gives_the_project_decoders_boxes(toy):
    "The archive's head configures depthai's own DetectionParser (host-only); it decodes the IR's outputs to the boxes `decode_outputs` gives."
    from remyx_nb.deploy.predict import Predictor
    from remyx_nb.deploy.oak import run_frames_detect, archive_frame
    from remyx_nb.compile.detect import decode_outputs
    from remyx_nb.compile.blob import ARCHIVE_CONF
    pred = Predictor(toy["out"]); views, _ = _views(toy["data"])
    rows = run_frames_detect([archive_frame(v, "RGB888p", i) for i, v in enumerate(views)], pred, score_thresh=0.3)
    n = other = 0  # the same batch-1 calls the host NN node makes: identical tensors in both decoders
    decs = [decode_outputs(pred(v[None])[0], S, score_thresh=0.3, iou=0.6, style="depthai")[0] for v in views]
    for r, d in zip(rows, decs):
        ours = sorted([[*map(float, b), int(l), float(s)] for b, l, s in zip(d["boxes"], d["labels"], d["scores"])], key=lambda t: -t[5])
        assert len(r["boxes"]) == len(ours), (r["boxes"], ours)
        n += len(ours)
        for x, y, w, h, lab, sc in r["boxes"]:  # pair each parser box with one of ours (scores can tie, so not by rank)
            hit = [k for k, (x0, y0, x1, y1, l, s) in enumerate(ours) if abs(sc - s) < 1e-3
                   and np.abs(np.array([x, y, x + w, y + h]) - [x0, y0, x1, y1]).max() < 0.15]  # the rows round to 0.1 px
            assert hit, ([x, y, w, h, lab, sc], ours)
            same = [k for k in hit if ["square", "disc"][ours[k][4]] == lab]
            if not same: other += 1  # a cell whose two class scores tie to float precision: the parser's own math may pick the other
            ours.pop((same or hit)[0])
    assert n > 0 and other <= max(1, n // 20), (other, n)  # the labels agree but for such ties
    # the project's style differs from the parser's (all classes per cell, NMS per class): the test can fail on the wrong style
    assert sum(len(decode_outputs(pred(v[None])[0], S, score_thresh=0.3)[0]["boxes"]) for v in views) != n

def test_channel_order_detector(toy):
    "An RGB photo as the camera delivers the archive's frame type gives torch's boxes; a BGR frame gives other boxes."
    from remyx_nb.deploy.predict import Predictor
    from remyx_nb.deploy.oak import run_frames_detect, archive_frame, find_model
    from remyx_nb.compile.detect import torch_runner, decode_outputs
    from remyx_nb.detect.model import load_detector
    dai_type = find_model(toy["out"])["dai_type"]; assert dai_type == "RGB888p"
    net, info = load_detector(toy["model"]); views, _ = _views(toy["data"], 3)
    ref = decode_outputs(torch_runner(net, info)(np.stack(views).transpose(0, 3, 1, 2)), S, score_thresh=0.3, style="depthai")
    pred = Predictor(toy["out"])
    good = run_frames_detect([archive_frame(v, dai_type, i) for i, v in enumerate(views)], pred, score_thresh=0.3)
    bad = run_frames_detect([archive_frame(v, "BGR888p", i) for i, v in enumerate(views)], pred, score_thresh=0.3)
    def found(rows, k=5):
        "Share of torch's k best boxes per image that the compiled path also gives (same label, within 1 px and 0.03 in score)."
        hits = []
        for r, d in zip(rows, ref):
            for box, l, sc in list(zip(d["boxes"], d["labels"], d["scores"]))[:k]:
                hits.append(any(b[4] == ["square", "disc"][l] and abs(b[5] - sc) < 0.03 and
                                np.abs(np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]]) - box).max() < 1.0 for b in r["boxes"]))
        return np.mean(hits)
    assert sum(len(d["boxes"]) for d in ref) >= 10
    assert found(good) == 1.0 and found(bad) < 0.5, (found(good), found(bad))

def test_channel_order_classifier(compiled_dir, forklift_model_dir, shared_datasets):
    "The classifier's archive declares RGB888p: photos delivered as that frame type give torch's answer, as BGR888p they do not."
    from remyx_nb.deploy.predict import Predictor, decode_logits
    from remyx_nb.deploy.oak import run_frames, archive_frame, find_model
    from remyx_nb.compile import torch_runner
    from remyx_nb.train import load_model
    m = find_model(compiled_dir); assert m["dai_type"] == "RGB888p"
    model, info = load_model(forklift_model_dir)
    photos = sorted((shared_datasets/"forklift_person/test").rglob("*.jpg"))[::25][:8]
    views = [frame_image(load_rgb(p), m["image_size"], m["framing"]) for p in photos]
    ref = decode_logits(torch_runner(model, info)(np.stack(views).transpose(0, 3, 1, 2)), info["labels"], 1)
    pred = Predictor(compiled_dir)
    good = run_frames([archive_frame(v, m["dai_type"], i) for i, v in enumerate(views)], pred, top_k=1)
    bad = run_frames([archive_frame(v, "BGR888p", i) for i, v in enumerate(views)], pred, top_k=1)
    assert [r["label"] for r in good] == [r["label"] for r in ref]
    assert max(abs(g["score"] - r["score"]) for g, r in zip(good, ref)) < 0.02
    assert max(abs(b["score"] - r["score"]) for b, r in zip(bad, ref)) > 0.05

def test_predict_writes_boxes_in_photo_pixels(cli, toy, tmp_path):
    from remyx_nb.compile.detect import onnx_runner, decode_outputs
    r = cli("predict", toy["out"], toy["data"]/"images", "-o", tmp_path/"p.jsonl", "--score-thresh", "0.3", "--quiet", "--batch-size", "5")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(l) for l in (tmp_path/"p.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["error"] is None for r in rows)
    names, recs = read_coco(toy["data"]); by = {str(rc.path): rc for rc in recs}
    row = next(r for r in rows if r["boxes"])
    x, y, w, h, lab, sc = row["boxes"][0]
    assert lab in names and 0.3 <= sc <= 1 and 0 <= x <= x + w <= 96.1 and 0 <= y <= y + h <= 96.1
    from PIL import Image
    view = np.asarray(Image.open(row["path"]).convert("RGB").resize((S, S), Image.BICUBIC))
    d = decode_outputs(onnx_runner(toy["out"]/"model.onnx")(view.transpose(2, 0, 1)[None]), S, score_thresh=0.3)[0]
    np.testing.assert_allclose(row["boxes"][0][:2], d["boxes"][0][:2]*96/S, atol=0.5)  # scaled back from 64 px to the 96 px photo
    from remyx_nb.deploy.predict import read_predictions  # a .parquet file holds the same rows (boxes as structs), and resumes
    e = cli("predict", toy["out"], toy["data"]/"images", "-o", tmp_path/"p.parquet", "--score-thresh", "0.3", "--quiet", "--batch-size", "5")
    assert e.returncode == 0, e.stderr[-2000:]
    import pyarrow.parquet as pq
    assert pq.read_schema(tmp_path/"p.parquet").field("boxes").type.value_type.names == ["x", "y", "w", "h", "label", "score"]
    key = lambda rs: sorted(rs, key=lambda r: r["path"])
    assert key(read_predictions(tmp_path/"p.parquet")) == key(rows)
    e = cli("predict", toy["out"], toy["data"]/"images", "-o", tmp_path/"p.parquet", "--score-thresh", "0.3", "--quiet")
    assert e.returncode == 0 and key(read_predictions(tmp_path/"p.parquet")) == key(rows)  # nothing predicted twice
    e = cli("predict", toy["out"], toy["data"]/"images", "-o", tmp_path/"q.jsonl", "--score-thresh", "2", "--quiet")
    assert e.returncode == 2 and "between 0 and 1" in e.stderr

def test_predict_keeps_boxes_at_the_threshold_train_chose(cli, toy, tmp_path):
    "Without --score-thresh, predict keeps what the camera shows: boxes scoring at least labels.json's deploy_thresh, not 0.25."
    def boxes(*extra):
        out = tmp_path/f"p{len(list(tmp_path.iterdir()))}.jsonl"
        r = cli("predict", toy["out"], toy["data"]/"images", "-o", out, "--quiet", *extra)
        assert r.returncode == 0, r.stderr[-2000:]
        return [[b[5] for b in json.loads(l)["boxes"]] for l in out.read_text().splitlines()]
    default, chosen, low = boxes(), boxes("--score-thresh", str(DEPLOY)), boxes("--score-thresh", "0.25")
    assert default == chosen and min(s for row in default for s in row) >= DEPLOY
    assert sum(map(len, low)) > sum(map(len, default))  # the toy has boxes between 0.25 and the chosen threshold

def test_monitor_on_a_detector(toy, tmp_path):
    from remyx_nb.deploy.predict import Predictor
    from remyx_nb.deploy.monitor import monitor
    rep = monitor(Predictor(toy["out"]), sorted(str(p) for p in (toy["data"]/"images").iterdir()), tmp_path/"m", batch_size=6)
    assert rep["n"] == 12 and rep["ood_rate"] is None and rep["mean_boxes"] > 0 and 0 < rep["mean_confidence"] <= 1
    assert rep["reference"] == str(toy["data"])  # parity's photos, recorded in parity.json
    from remyx_nb.deploy.predict import predict_batch  # boxes are counted as the camera shows them: at the deployment threshold
    rows = predict_batch(Predictor(toy["out"]), sorted(str(p) for p in (toy["data"]/"images").iterdir()))
    assert math.isclose(rep["mean_boxes"], np.mean([r["n_boxes"] for r in rows]), rel_tol=1e-6)

def test_compile_detector_bad_inputs(cli, toy, tmp_path):
    e = cli("compile", toy["model"], "-o", tmp_path/"o")
    assert e.returncode == 2 and "--data" in e.stderr and len(e.stderr.strip().splitlines()) == 1
    e = cli("compile", toy["model"], "-o", tmp_path/"o", "--data", toy["data"]/"images")
    assert e.returncode == 2 and ANNOTATIONS in e.stderr and not (tmp_path/"o").exists()
