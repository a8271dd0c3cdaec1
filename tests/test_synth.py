"Synth stage: every generator through `remyx-nb generate`, boxes, labels, the few-shot route, bad input, kill and resume."
import colorsys, hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from remyx_nb.core import image_folder, read_json
from remyx_nb.spec import parse_request

WAREHOUSE = ["ladder", "box", "pallet", "traffic_cone", "empty_floor"]

def _spec(tmp_path, concepts=WAREHOUSE, request="our warehouse robot must avoid ladders", name="spec.yaml"):
    p = tmp_path/name; parse_request(request, concepts=concepts).save(p); return p

def _manifest(out):
    return [json.loads(l) for l in (Path(out)/"metadata.jsonl").read_text().splitlines()]

def _check_dataset(out, labels, per_class):
    "The stage contract: class folders only, one manifest line per image, labels = folders, boxes inside the image."
    out = Path(out); classes, items = image_folder(out)
    assert classes == sorted(labels)
    recs = _manifest(out)
    assert len(recs) == len(items) == len({r["file_name"] for r in recs}) == per_class*len(labels)
    assert {str(p.relative_to(out)) for p, _ in items} == {r["file_name"] for r in recs}
    for r in recs:
        assert r["file_name"].split("/")[0] == r["label"]
        assert {"file_name", "label", "generator", "prompt", "seed", "source", "transform"} <= set(r)
        for x, y, w, h in r.get("boxes") or []:
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= r["width"] and y + h <= r["height"]
    summ = read_json(out/"summary.json")
    assert {k: v["kept"] for k, v in summ["counts"].items()} == {l: per_class for l in labels}
    assert all((out/f"grid_{l}.png").exists() for l in labels)
    return recs, summ

def test_procedural_default(tmp_path, cli):
    spec = _spec(tmp_path)
    r = cli("generate", spec, "-o", tmp_path/"out", "--per-class", 6, "--no-filter", "--quiet")
    assert r.returncode == 0, r.stderr
    recs, summ = _check_dataset(tmp_path/"out", WAREHOUSE, 6)
    coco = read_json(tmp_path/"out"/"annotations.coco.json")
    assert [c["name"] for c in coco["categories"]] == WAREHOUSE[:4]  # the background class has no boxes
    assert len(coco["annotations"]) == 4*6 and len(coco["images"]) == 5*6
    assert len({r["seed"] for r in recs}) == len(recs)  # a seed per image
    # the classes look different: object classes differ from empty floors in pixel statistics of the boxes
    assert all(r["boxes"] for r in recs if r["label"] != "empty_floor") and not any(r["boxes"] for r in recs if r["label"] == "empty_floor")

def _objects(tmp_path):
    "Seed photos: saturated RGBA objects (an alpha cut-out) per class; grey scenes to paste them on."
    seeds, bgs = tmp_path/"seeds", tmp_path/"bgs"
    for lab, col in (("ladder", (0, 230, 0)), ("box", (230, 0, 230))):
        (seeds/lab).mkdir(parents=True)
        for k in range(3):
            a = np.zeros((60 + 10*k, 40 + 8*k, 4), np.uint8); a[8:-8, 6:-6] = (*col, 255)
            Image.fromarray(a).save(seeds/lab/f"obj{k}.png")
    bgs.mkdir()
    for k in range(3): Image.fromarray(np.full((150, 200, 3), 90 + 40*k, np.uint8)).save(bgs/f"scene{k}.jpg")
    return seeds, bgs

def test_composite_boxes_cover_the_pasted_object(tmp_path, cli):
    seeds, bgs = _objects(tmp_path)
    spec = _spec(tmp_path, ["ladder", "box", "empty_floor"], request="tell ladders from boxes in the warehouse")
    out = tmp_path/"out"
    r = cli("generate", spec, "-o", out, "--generator", "composite", "--seed-images", seeds, "--backgrounds", bgs,
            "--per-class", 24, "--size", 96, "--no-filter", "--quiet")
    assert r.returncode == 0, r.stderr
    recs, _ = _check_dataset(out, ["ladder", "box", "empty_floor"], 24)
    coco = read_json(out/"annotations.coco.json")
    assert len(coco["annotations"]) == 48 and len(coco["images"]) == 72
    checked = 0
    for rec in recs:
        if rec["label"] == "empty_floor": assert rec["boxes"] == [] and rec["source"] is None; continue
        assert len(rec["boxes"]) == 1 and Path(rec["source"]).parent.name == rec["label"]
        if rec["transform"]["paste"]["blend"] == "poisson": continue  # Poisson re-solves the colours against the grey scene
        hsv = np.asarray(Image.open(out/rec["file_name"]).convert("HSV"))
        ys, xs = np.nonzero(hsv[..., 1] > 150)  # the saturated object; scenes and clutter are grey
        assert len(xs) > 20
        x, y, w, h = rec["boxes"][0]
        assert xs.min() >= x - 2 and ys.min() >= y - 2 and xs.max() <= x + w + 1 and ys.max() <= y + h + 1, rec["file_name"]
        if "occlusion" not in rec["transform"]:  # and the box is tight around it
            assert abs(xs.min() - x) <= 3 and abs(ys.min() - y) <= 3 and abs(xs.max() + 1 - (x + w)) <= 3 and abs(ys.max() + 1 - (y + h)) <= 3
        checked += 1
    assert checked >= 25

def test_fewshot_route_on_real_photos(tmp_path, cli, shared_datasets):
    real = shared_datasets/"forklift_person"/"train"
    spec = _spec(tmp_path, ["forklift", "person"], request="tell forklifts from people in the aisle")
    out = tmp_path/"fewshot"
    r = cli("generate", spec, "-o", out, "--generator", "augment+composite", "--seed-images", real, "--shots", 10,  # the README form
            "--per-class", 200, "--no-filter")
    assert r.returncode == 0, r.stderr
    redraws = [l for l in r.stderr.splitlines() if l.startswith("generate:")]  # text mode reads each "\r" as a line end
    assert 1 <= len(redraws) <= 3, r.stderr  # stderr is a pipe here: the bar redraws every 30 s, not ten times a second
    recs, summ = _check_dataset(out, ["forklift", "person"], 200)
    for lab in ("forklift", "person"):
        src = {r["source"] for r in recs if r["label"] == lab}
        assert len(src) == 10 and all(Path(s).parent == (real/lab).resolve() for s in src)  # only the 10 shots, of the right class
        assert summ["counts"][lab]["by_generator"] == {"augment": 100, "composite": 100}
    aug = next(r for r in recs if r["generator"] == "augment")
    assert aug["transform"]["applied"][0][0] == "RandomResizedCrop"

def test_diffusers_text2image_and_img2img(tmp_path, cli):
    from remyx_nb.synth.diffusers import tiny_pipeline
    model = tiny_pipeline(tmp_path/"tiny-sd")
    seeds = tmp_path/"seeds"; (seeds/"ladder").mkdir(parents=True)
    for k in range(2): Image.fromarray(np.full((70, 90, 3), 60 + 100*k, np.uint8)).save(seeds/"ladder"/f"real{k}.jpg")
    spec = _spec(tmp_path, ["ladder", "box"], request="tell ladders from boxes in the warehouse")
    out = tmp_path/"sd"
    r = cli("generate", spec, "-o", out, "--generator", "diffusers", "--model", model, "--seed-images", seeds,
            "--steps", 2, "--strength", 0.5, "--guidance", 3.0, "--batch-size", 2, "--size", 64, "--per-class", 3, "--no-filter", "--quiet")
    assert r.returncode == 0, r.stderr
    recs, _ = _check_dataset(out, ["ladder", "box"], 3)
    for rec in recs:
        t = rec["transform"]
        assert rec["prompt"] and t["negative_prompt"] and (t["steps"], t["guidance"]) == (2, 3.0)
        if rec["label"] == "ladder": assert t["mode"] == "img2img" and t["strength"] == 0.5 and Path(rec["source"]).name.startswith("real")
        else: assert t["mode"] == "text2img" and rec["source"] is None and "ladder" in t["negative_prompt"]
        assert np.asarray(Image.open(out/rec["file_name"])).shape == (64, 64, 3)
    assert len({r["prompt"] for r in recs if r["label"] == "box"}) == 3

@pytest.mark.parametrize("case", ["unknown-generator", "empty-seed-folder", "missing-model", "missing-spec", "other-settings", "missing-backgrounds"])
def test_bad_input_is_one_line_exit_2(tmp_path, cli, case):
    spec = _spec(tmp_path, ["ladder", "box"], request="tell ladders from boxes in the warehouse"); out = tmp_path/"out"
    (tmp_path/"empty"/"ladder").mkdir(parents=True)
    args = {"unknown-generator": ["--generator", "gan"],
            "empty-seed-folder": ["--generator", "composite", "--seed-images", tmp_path/"empty"],
            "missing-model": ["--generator", "diffusers", "--model", tmp_path/"no-such-model"],
            "missing-spec": [],
            "other-settings": ["--seed", 5],
            "missing-backgrounds": ["--generator", "composite", "--seed-images", tmp_path/"empty", "--backgrounds", tmp_path/"nope"]}[case]
    if case == "other-settings":
        assert cli("generate", spec, "-o", out, "--per-class", 2, "--no-filter", "--quiet").returncode == 0
        before = sorted(p.name for p in (out/"ladder").iterdir())
    r = cli("generate", tmp_path/"nope.yaml" if case == "missing-spec" else spec, "-o", out, "--per-class", 2, "--no-filter", "--quiet", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    if case == "other-settings":
        assert "--overwrite" in r.stderr and sorted(p.name for p in (out/"ladder").iterdir()) == before  # nothing lost
        assert cli("generate", spec, "-o", out, "--per-class", 2, "--no-filter", "--quiet", "--seed", 5, "--overwrite").returncode == 0
    else: assert not out.exists()  # nothing written on bad input

def test_corrupt_inputs_are_skipped_and_counted(tmp_path, cli):
    seeds, bgs = _objects(tmp_path)
    (seeds/"ladder"/"broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (bgs/"broken.png").write_bytes(b"\x89PNG nope")
    spec = _spec(tmp_path, ["ladder", "box"], request="tell ladders from boxes in the warehouse")
    r = cli("generate", spec, "-o", tmp_path/"out", "--generator", "composite", "--seed-images", seeds, "--backgrounds", bgs,
            "--per-class", 4, "--size", 64, "--no-filter", "--quiet")
    assert r.returncode == 0, r.stderr
    summ = read_json(tmp_path/"out"/"summary.json")
    assert summ["skipped_inputs"]["count"] == 2 and "Skipped 2" in r.stdout
    assert {Path(f).name for f in summ["skipped_inputs"]["files"]} == {"broken.jpg", "broken.png"}
    _check_dataset(tmp_path/"out", ["ladder", "box"], 4)

def _digest(out):
    return {p.relative_to(out).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in Path(out).glob("*/*.jpg")}

def test_kill_and_resume(tmp_path, cli):
    spec = _spec(tmp_path); out = tmp_path/"out"
    args = [sys.executable, "-m", "remyx_nb.cli", "generate", str(spec), "-o", str(out), "--per-class", "60", "--size", "128", "--no-filter", "--quiet", "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    man, t0 = out/"metadata.jsonl", time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        if man.exists() and len(man.read_bytes().splitlines()) >= 30: break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    proc.send_signal(signal.SIGKILL); proc.wait()  # workers orphaned by the kill finish their chunk or die; none is restarted
    assert 30 <= len(man.read_bytes().splitlines()) < 300
    r = cli("generate", spec, "-o", out, "--per-class", 60, "--size", 128, "--no-filter", "--quiet")
    assert r.returncode == 0, r.stderr
    recs, summ = _check_dataset(out, WAREHOUSE, 60)
    assert summ["resumed"] and summ["new_images"] < 300
    assert not list(out.glob("*/.*.tmp"))
    # the resumed dataset is the one an uninterrupted run makes: same files, same bytes, same manifest
    fresh = tmp_path/"fresh"
    assert cli("generate", spec, "-o", fresh, "--per-class", 60, "--size", 128, "--no-filter", "--quiet").returncode == 0
    assert _digest(out) == _digest(fresh)
    assert [{k: v for k, v in r.items()} for r in recs] == _manifest(fresh)

def test_filtering_reports_rejection_per_class(tmp_path, cli):
    spec = _spec(tmp_path, ["ladder", "traffic_cone", "empty_floor"], request="our warehouse robot must avoid ladders and cones")
    out = tmp_path/"out"
    r = cli("generate", spec, "-o", out, "--per-class", 12, "--size", 96, "--quiet")
    assert r.returncode == 0, r.stderr
    summ = read_json(out/"summary.json"); recs = _manifest(out)
    rejected = [json.loads(l) for l in (out/"_rejected"/"metadata.jsonl").read_text().splitlines()]
    for lab, c in summ["counts"].items():
        n_rej = sum(x["label"] == lab for x in rejected)
        assert c["rejected"] == n_rej and c["rejection_rate"] == round(n_rej/(c["kept"] + n_rej), 4)
        assert c["kept"] == sum(x["label"] == lab for x in recs) and (c["kept"] == 12 or summ["replacement_rounds"] == 2)
    assert all(x["rejected"] in ("duplicate", "disagreement") and (out/"_rejected"/x["file_name"]).exists() for x in rejected)
    assert summ["filter"]["agreement"].startswith("cross-validated") and summ["timings"]["filter_s"] > 0
    assert image_folder(out)[0] == ["empty_floor", "ladder", "traffic_cone"]  # _rejected is not a class

def test_filter_drops_duplicates_and_mislabelled(tmp_path, shared_datasets):
    "Real forklift and person photos stand in for generated ones: two copied files and two wrong labels are caught."
    from remyx_nb.core import list_images
    from remyx_nb.synth.filter import filter_dataset
    recs = []
    for lab in ("forklift", "person"):
        (tmp_path/lab).mkdir()
        for i, f in enumerate(list_images(shared_datasets/"forklift_person"/"train"/lab)[:20]):
            (tmp_path/lab/f"g_{i:05d}.jpg").write_bytes(f.read_bytes())  # a temporary working copy, deleted with tmp_path
            recs.append(dict(file_name=f"{lab}/g_{i:05d}.jpg", label=lab))
    for i in (0, 1):
        (tmp_path/f"forklift/g_9{i:04d}.jpg").write_bytes((tmp_path/f"forklift/g_{i:05d}.jpg").read_bytes())
        recs.append(dict(file_name=f"forklift/g_9{i:04d}.jpg", label="forklift"))
    recs[3]["label"], recs[25]["label"] = "person", "forklift"  # wrong labels
    kept, rep = filter_dataset(tmp_path, recs, ["forklift", "person"], progress=False, size=160, confidence=0.85)
    dups = {r["file_name"]: r["duplicate_of"] for r in recs if r.get("rejected") == "duplicate"}
    assert dups == {"forklift/g_90000.jpg": "forklift/g_00000.jpg", "forklift/g_90001.jpg": "forklift/g_00001.jpg"}
    wrong = {r["file_name"] for r in recs if r.get("rejected") == "disagreement"}
    assert {"forklift/g_00003.jpg", "person/g_00005.jpg"} <= wrong and len(wrong) <= 8, wrong  # some real crops hold both classes
    assert len(kept) == 42 - 2 - len(wrong) and rep["agreement"].startswith("cross-validated")

from remyx_nb.synth.procedural import ProceduralGenerator
from remyx_nb.synth.base import job_seed

class DupGenerator(ProceduralGenerator):
    "Procedural images, except that images 0-3 of each class are the same picture."
    name = "dup"
    def make(self, label, index, seed):
        return super().make(label, index, job_seed(0, "dup", label, 0) if index < 4 else seed)

def test_filtered_images_are_replaced(tmp_path, monkeypatch):
    from remyx_nb import synth
    monkeypatch.setitem(synth.GENERATORS, "dup", ("test_synth", "DupGenerator"))
    spec = parse_request("our warehouse robot must avoid ladders and cones", concepts=["ladder", "traffic_cone"])
    out = tmp_path/"out"
    s = synth.generate(spec, out, "dup", per_class=10, size=96, progress=False, workers=1)
    for lab in ("ladder", "traffic_cone"):
        c = s["counts"][lab]
        assert c["rejected_why"]["duplicate"] == 3 and c["kept"] == 10  # 3 copies dropped, and replaced
    recs = _manifest(out)
    assert len(recs) == 20 and sum(r["file_name"] == "ladder/dup_00000.jpg" for r in recs) == 1
    assert s["replacement_rounds"] >= 1 and any(r["file_name"] >= "ladder/dup_00010.jpg" for r in recs if r["label"] == "ladder")
    again = synth.generate(spec, out, "dup", per_class=10, size=96, progress=False, workers=1)  # resume: nothing to do
    assert again["new_images"] == 0 and again["total"] == 20
