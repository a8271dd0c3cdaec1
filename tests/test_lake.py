"Lake stage: index a folder or a path column (resumable, duplicates once, unreadable rows), harvest from a few seeds with distractors in the lake, review → merge."
import hashlib, json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest
from remyx_nb.core import image_folder
from remyx_nb.lake.index import read_rows, LakeIndex


@pytest.fixture(scope="module")
def lake(shared_datasets, tmp_path_factory):
    "A flat folder: 25 forklift + 25 person test photos and 20 ant photos under hashed names, one file twice, one torn file."
    root = tmp_path_factory.mktemp("lake"); flat = root/"lake"; flat.mkdir()
    truth = {}
    for sub, n, label in (("forklift_person/test/forklift", 25, "forklift"), ("forklift_person/test/person", 25, "person"),
                          ("hymenoptera/val/ants", 20, None)):
        for f in sorted((shared_datasets/sub).iterdir())[:n]:
            name = hashlib.sha1(str(f).encode()).hexdigest()[:12] + ".jpg"; shutil.copy(f, flat/name); truth[name] = label
    shutil.copy(flat/next(iter(truth)), flat/"again.jpg"); (flat/"torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 torn")
    return root, truth


@pytest.fixture(scope="module")
def index_dir(lake, tmp_path_factory):
    from remyx_nb.cli import main
    out = lake[0]/"index"
    assert main(["index", str(lake[0]/"lake"), "-o", str(out), "--quiet"]) == 0
    return out


def test_index_rows_duplicates_errors_and_resume(index_dir, lake, cli):
    rows = read_rows(index_dir); meta = json.loads((index_dir/"index.json").read_text())
    assert len(rows) == 72 and meta["n_vectors"] == 70 and meta["n_errors"] == 1 and meta["n_duplicates"] == 1
    by = rows.set_index(rows["path"].map(lambda p: Path(p).name))
    assert by.loc["again.jpg", "row"] == by.loc[next(iter(lake[1])), "row"]
    assert by.loc["torn.jpg", "row"] == -1 and "cannot be decoded" in by.loc["torn.jpg", "error"]
    r = cli("index", lake[0]/"lake", "-o", index_dir, "--quiet")              # nothing new: nothing read
    assert r.returncode == 0 and "indexed 0 new paths" in r.stdout
    assert len(read_rows(index_dir)) == 72


def test_index_reads_a_path_column_and_refuses_bad_sources(lake, tmp_path, cli):
    paths = sorted(str(p) for p in (lake[0]/"lake").iterdir())[:6]
    pd.DataFrame({"uri": paths, "site": "dock"}).to_parquet(tmp_path/"t.parquet")
    r = cli("index", tmp_path/"t.parquet", "--column", "uri", "-o", tmp_path/"ix", "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(read_rows(tmp_path/"ix")["path"]) == paths
    r = cli("index", tmp_path/"t.parquet", "--column", "nope", "-o", tmp_path/"ix2")
    assert r.returncode == 2 and "has no column 'nope'" in r.stderr and not (tmp_path/"ix2").exists()
    (tmp_path/"notes").mkdir(); (tmp_path/"notes"/"a.txt").write_text("x")
    r = cli("index", tmp_path/"t.parquet", "--column", "uri", "-o", tmp_path/"notes")
    assert r.returncode == 2 and "is not an index" in r.stderr and (tmp_path/"notes"/"a.txt").exists()


def test_search_finds_the_copy_first(index_dir, lake):
    ix = LakeIndex(index_dir)
    first = next(iter(lake[1])); row = int(read_rows(index_dir).set_index("path").loc[str(lake[0]/"lake"/first), "row"])
    sims, nn = ix.search(ix.vectors[[row]], 3)
    assert nn[0][0] == row and sims[0][0] == pytest.approx(1, abs=1e-5)


def test_harvest_labels_the_lake_and_leaves_the_distractors(index_dir, lake, shared_datasets, tmp_path, cli):
    seeds = shared_datasets/"forklift_person/train"; out = tmp_path/"harvest"
    r = cli("harvest", index_dir, "--seed-images", seeds, "--shots", 5, "--seed", 1, "-o", out)
    assert r.returncode == 0, r.stderr
    meta = [json.loads(l) for l in (out/"metadata.jsonl").read_text().splitlines()]
    truth = {**lake[1], "again.jpg": lake[1][next(iter(lake[1]))]}
    got = [(m["label"], truth[Path(m["lake_path"]).name]) for m in meta]
    assert len(got) >= 15 and np.mean([a == b for a, b in got]) >= 0.9, got   # many of the 51 photos, rightly labelled
    assert sum(b is None for _, b in got) <= 2                                # ants are not forklifts or persons
    assert {m["source"] for m in meta} == {"lake"} and all(0.5 <= m["confidence"] <= 1 for m in meta)
    classes, items = image_folder(out)
    assert classes == ["forklift", "person"] and len(items) == len(meta)      # review/ is a queue, not a class
    assert all((out/m["file_name"]).is_symlink() for m in meta)
    s = json.loads((out/"summary.json").read_text())
    queue = [json.loads(l) for l in (out/"review"/"manifest.jsonl").read_text().splitlines()]
    assert s["harvested"] == len(meta) and s["review"] == len(queue) and s["cross_view"] == "full"
    assert sum(r["reasons"] == ["views disagree"] for r in queue) == s["views_disagree"]   # the cross-check's rejects wait for a person
    assert (out/"grid_forklift.png").exists() and "harvested" in r.stdout
    r = cli("harvest", index_dir, "--seed-images", seeds, "-o", out)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = cli("harvest", index_dir, "--seed-images", seeds, "--shots", 5, "--seed", 1, "--cross-view", "none", "-o", tmp_path/"one_view")
    one = json.loads((tmp_path/"one_view"/"summary.json").read_text())
    assert r.returncode == 0 and one["views_disagree"] == 0 and one["harvested"] >= s["harvested"]  # the check only ever removes


def test_harvest_refuses_what_is_not_an_index(tmp_path, shared_datasets, cli):
    r = cli("harvest", tmp_path, "--seed-images", shared_datasets/"forklift_person/train", "-o", tmp_path/"h")
    assert r.returncode == 2 and "is not an index" in r.stderr and not (tmp_path/"h").exists()


def test_an_interrupted_index_resumes_where_it_stopped(lake, tmp_path, monkeypatch):
    import remyx_nb.lake.index as li
    paths = sorted(str(p) for p in (lake[0]/"lake").iterdir() if p.name != "torn.jpg")[:12]
    real, calls = li.load_view, []
    def flaky(*a):
        calls.append(a[0])
        if len(calls) == 9: raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(li, "load_view", flaky)
    with pytest.raises(KeyboardInterrupt): li.build_index(paths, tmp_path/"ix", batch_size=4, part_size=4, workers=0, progress=False)
    done = set(read_rows(tmp_path/"ix")["path"])
    assert len(done) == 8 and (tmp_path/"ix"/"index.json").exists()           # two committed parts survive
    monkeypatch.setattr(li, "load_view", real); calls.clear()
    m = li.build_index(paths, tmp_path/"ix", batch_size=4, part_size=4, workers=0, progress=False)
    assert m["runs"][-1]["added"] == 4 and m["n_paths"] == 12 and len(LakeIndex(tmp_path/"ix")) == 12
