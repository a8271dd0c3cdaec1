"""`remyx-nb spec`: the ten example requests parse to pinned specs; bad requests exit 2 with one line."""
import pytest, yaml
from remyx_nb.spec import EXAMPLE_REQUESTS, parse_request, load_spec

EXPECTED = [  # labels, context, device, image size, latency ms, real shots
    (["ladder", "box"], "a warehouse floor", "oak-d", 224, 33.0, 0),
    (["ladder", "empty_floor"], "a warehouse floor", "oak-d", 224, 33.0, 0),
    (["drooping_plant", "healthy_plant"], "a greenhouse bench", "oak-d", 224, 33.0, 0),
    (["scratched_part", "intact_part"], "a factory inspection station", "oak-1", 224, 20.0, 0),
    (["traffic_cone", "pallet"], "a warehouse loading dock", "oak-d", 224, 33.3, 0),
    (["helmet", "no_helmet"], "a construction site", "oak-d-pro", 224, 33.0, 0),
    (["unripe_tomato", "ripe_tomato"], "a factory inspection station", "oak-d", 224, 33.0, 10),
    (["forklift", "person"], "a warehouse floor", "oak-d", 320, 33.0, 0),
    (["ant", "bee"], "a garden with flowers", "oak-d", 224, 33.0, 0),
    (["scaffolding", "wet_concrete"], "a construction site", "oak-d-lite", 224, 33.0, 0),
]

@pytest.mark.parametrize("request_, expected", list(zip(EXAMPLE_REQUESTS, EXPECTED)))
def test_examples_parse(request_, expected):
    s = parse_request(request_)
    assert (s.labels, s.context, s.device, s.image_size, s.budgets.latency_ms, s.budgets.real_shots) == expected
    assert sum(c.background for c in s.concepts) <= 1

def test_cli_writes_editable_spec_for_every_example(cli, tmp_path):
    for i, (r, exp) in enumerate(zip(EXAMPLE_REQUESTS, EXPECTED)):
        out = tmp_path/f"spec{i}.yaml"
        p = cli("spec", r, "-o", out)
        assert p.returncode == 0, p.stderr
        s = load_spec(out)
        assert s.labels == exp[0] and s.request == r
        d = yaml.safe_load(out.read_text())
        assert d["concepts"][0]["descriptions"], "a user edits descriptions in the YAML"

def test_cli_concepts_override_and_background(cli, tmp_path):
    p = cli("spec", "our robot must notice ladders", "--concepts", "ladder,box", "-o", tmp_path/"s.yaml")
    assert p.returncode == 0, p.stderr
    assert load_spec(tmp_path/"s.yaml").labels == ["ladder", "box"]
    assert parse_request("our robot must notice ladders").concepts[1].background

def test_cli_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path/"s.yaml"
    assert cli("spec", EXAMPLE_REQUESTS[0], "-o", out).returncode == 0
    before = out.read_text()
    p = cli("spec", EXAMPLE_REQUESTS[2], "-o", out)
    assert p.returncode == 2 and "already exists" in p.stderr
    assert out.read_text() == before
    assert cli("spec", EXAMPLE_REQUESTS[2], "-o", out, "--overwrite").returncode == 0

@pytest.mark.parametrize("args, msg", [
    (["   "], "request is empty"),
    (["asdf qwerty zxcv"], "Could not tell what to recognise"),
    (["tell ladders from boxes", "--device", "jetson-nano"], "Unknown device"),
    (["tell ladders from boxes on a Jetson Orin"], "is not supported"),
    (["tell ladders from boxes", "--concepts", "ladder,box,ladder"], "listed twice"),
    (["tell ladders from boxes", "--image-size", "5"], "image_size"),
])
def test_cli_bad_requests_one_line_exit_2(cli, tmp_path, args, msg):
    p = cli("spec", *args, "-o", tmp_path/"s.yaml")
    assert p.returncode == 2
    assert msg in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not (tmp_path/"s.yaml").exists()

def test_load_spec_reports_bad_fields(tmp_path, cli):
    out = tmp_path/"s.yaml"
    cli("spec", EXAMPLE_REQUESTS[0], "-o", out)
    out.write_text(out.read_text().replace("device: oak-d", "device: tpu9000"))
    with pytest.raises(Exception, match="Unknown device 'tpu9000'"): load_spec(out)
    out.write_text("concepts: [ladder\n")
    with pytest.raises(Exception, match="not valid YAML"): load_spec(out)
