"""The review page in a real browser (Playwright on the system's Chromium): keyboard judging, a killed server, a restart, then merge and retrain."""
import json, os, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, pytest
from PIL import Image, ImageDraw
from remyx_nb.review import flag_for_review, read_manifest

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "") if p and Path(p).exists()), None)
ARTIFACTS = Path(os.environ.get("REMYX_ARTIFACTS", Path(__file__).resolve().parent/"artifacts"))

def _shape(path, kind, i):
    "A 160×120 stand-in photo: a yellow block (forklift) or a blue figure (person) on a grey floor."
    rng = np.random.default_rng(i); img = Image.fromarray(rng.integers(90, 140, (120, 160, 3), dtype=np.uint8)); d = ImageDraw.Draw(img)
    x, y = int(rng.integers(10, 80)), int(rng.integers(10, 40))
    if kind == "forklift": d.rectangle([x, y + 30, x + 60, y + 70], fill=(230, 190, 30)); d.rectangle([x + 55, y, x + 62, y + 70], fill=(60, 60, 60))
    else: d.ellipse([x + 20, y, x + 36, y + 16], fill=(40, 70, 200)); d.rectangle([x + 18, y + 16, x + 38, y + 70], fill=(40, 70, 200))
    img.save(path); return path

def _queue(root, n=6):
    rows = []
    for i in range(n):
        kind = ("forklift", "person")[i % 2]
        p = _shape(root/"photos"/f"{kind}_{i}.png", kind, i)
        rows.append({"path": str(p), "predicted": kind if i != 3 else "forklift", "score": 0.55 + 0.05*i, "reasons": ["low_conf"]})
    (root/"photos").mkdir(exist_ok=True)
    return flag_for_review(root/"review", rows).parent

def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _serve(queue, port):
    p = subprocess.Popen([sys.executable, "-m", "remyx_nb.cli", "review", str(queue), "--port", str(port), "--labels", "forklift,person"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        try: urllib.request.urlopen(f"http://127.0.0.1:{port}/api/queue", timeout=1); return p
        except OSError: time.sleep(0.2)
    p.kill(); raise AssertionError(f"the review server did not start: {p.stderr.read()}")

@pytest.fixture
def browser():
    if CHROMIUM is None: pytest.skip("no Chromium on this machine: install Debian's `chromium` (setup.sh does when it runs as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()

@pytest.mark.slow
def test_keyboard_judging_survives_a_killed_server_and_merges_into_training(tmp_path, browser, cli):
    (tmp_path/"photos").mkdir()
    queue = _queue(tmp_path); files = [r["file"] for r in read_manifest(queue/"manifest.jsonl")]
    port = _free_port(); server = _serve(queue, port)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#big[src]")
        expect = lambda t: page.wait_for_function(f"document.getElementById('progress').textContent.startsWith({json.dumps(t)})", timeout=10_000)
        expect("0 of 6 judged")
        page.keyboard.press("a"); expect("1 of 6 judged")       # forklift_0: the model was right
        page.keyboard.press("a"); expect("2 of 6 judged")       # person_1: right
        page.keyboard.press("x"); expect("3 of 6 judged")       # forklift_2: a bad example
        page.keyboard.press("2"); expect("4 of 6 judged")       # the 4th was predicted forklift: relabel as class 2 (person)
        page.keyboard.press("1"); expect("5 of 6 judged")       # forklift_4 relabelled as forklift
        page.keyboard.press("u"); expect("4 of 6 judged")       # ... undone
        page.keyboard.press("s")                                # skip: nothing written
        page.wait_for_selector(f".th.cur[data-file='{files[5].replace('/', '%2F')}']")
        ARTIFACTS.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(ARTIFACTS/"review_page.png"))
        # the server dies mid-session: every decision the page showed is on disk, whole
        server.send_signal(signal.SIGKILL); server.wait(10)
        rows = read_manifest(queue/"manifest.jsonl")
        assert [r["label"] for r in rows] == ["forklift", "person", "discard", "person", None, None]
        assert [r.get("decision") for r in rows][:4] == ["accept", "accept", "reject", "relabel"]
        server = _serve(queue, port)
        page.reload(); expect("4 of 6 judged · 2 left")
        assert page.locator(".th").count() == 2                 # it shows what is left
        page.keyboard.press("a"); expect("5 of 6 judged"); page.keyboard.press("a"); expect("6 of 6 judged")
        page.wait_for_selector("#done", state="visible")
        # what is outside the queue is not served
        for bad in ("..%2Fphotos%2Fforklift_0.png", "manifest.jsonl", "images/..%2F..%2Fphotos%2Fforklift_0.png"):
            with pytest.raises(urllib.error.HTTPError): urllib.request.urlopen(f"http://127.0.0.1:{port}/img/{bad}", timeout=5)
    finally:
        server.kill()
    # back to data: merge the decisions, then train on them
    r = cli("merge", queue, "-o", tmp_path/"reviewed")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)
    assert merged["per_class"] == {"forklift": 2, "person": 3} and merged["discarded"] == 1
    r = cli("train", tmp_path/"reviewed", "-o", tmp_path/"model", "--time-budget", "30", "--finetune", "off")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path/"model"/"labels.json").read_text())["labels"] == ["forklift", "person"]

@pytest.mark.slow
def test_a_detection_queue_shows_its_boxes_and_is_judged_per_image(tmp_path, browser):
    (tmp_path/"photos").mkdir()
    p = _shape(tmp_path/"photos"/"dock.png", "forklift", 0)
    boxes = [[10, 20, 60, 50, "forklift", 0.41], [90, 10, 30, 80, "person", 0.38]]
    queue = flag_for_review(tmp_path/"review", [{"path": str(p), "predicted": "forklift", "score": 0.41, "reasons": ["low_conf"]}]).parent
    rows = read_manifest(queue/"manifest.jsonl"); rows[0]["boxes"] = boxes
    (queue/"manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    port = _free_port(); server = _serve(queue, port)
    try:
        page = browser.new_page(); page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector(".box")
        assert page.locator(".box").count() == 2 and page.locator(".box span").first.inner_text().startswith("forklift 0.41")
        w = page.evaluate("document.getElementById('big').width")  # 640 px wide for a 160 px photo: boxes scale with it
        assert abs(page.locator(".box").first.bounding_box()["width"] - 60*w/160) < 3
        page.keyboard.press("x"); page.wait_for_selector("#done", state="visible")
    finally:
        server.kill()
    assert read_manifest(queue/"manifest.jsonl")[0]["label"] == "discard"
