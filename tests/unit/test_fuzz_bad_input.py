"""Hostile and careless input, kind by kind: each gets a clear message naming the row, field or file and the
fix; every other row is kept; no secret is written anywhere.

Each `@kind` below is one kind of bad input or fault (the issue's list, then more of our own). The suite
prints how many kinds it tried. Everything is built here, tiny: manifests and images in `tmp_path`, a real
loopback HTTP server for the network faults, subprocesses where memory is measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image
from tests.synth_servers import ScriptedBackend

from edit_handbook.cli import main as cli_main
from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.data.validation import DataValidationError
from edit_handbook.data.writer import restore_previous_dataset, save_dataset_atomically
from edit_handbook.evaluation.real_edit import read_real_edit
from edit_handbook.hub.publish import check_upload_folder
from edit_handbook.hub.release import check_no_outside_images
from edit_handbook.hub.run_info import collect_run_info, write_run_info
from edit_handbook.models.images import model_ready
from edit_handbook.models.loading import check_model_location
from edit_handbook.redaction import redact
from edit_handbook.space.inputs import InputError, check_instruction, load_image
from edit_handbook.space.settings import InputLimits
from edit_handbook.synth.backends import HTTPBackend, Reply, Request
from edit_handbook.synth.engine import run_task, save_result
from edit_handbook.synth.tasks import CaptionTask


REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Key-0123456789"
KINDS: dict[str, Callable] = {}


def kind(name: str):
    """Register one kind of bad input; the test below runs each."""

    def register(function: Callable) -> Callable:
        KINDS[name] = function
        return function

    return register


# -- helpers ------------------------------------------------------------------------------------------------


def _png(path: Path, color=(200, 30, 30), size=(12, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _manifest(folder: Path, rows: list[dict], name: str = "manifest.jsonl") -> Path:
    """Three good rows (ids good-0..2) around the given ones, images inside `folder`."""
    for index in range(3):
        _png(folder / f"img/{index}.png", (index * 40, 10, 10))
    good = [
        {
            "id": f"good-{i}",
            "source_image": f"img/{i}.png",
            "target_image": f"img/{(i + 1) % 3}.png",
            "instruction": "x",
        }
        for i in range(3)
    ]
    path = folder / name
    lines = [json.dumps(row).encode() for row in good[:2] + rows + good[2:]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _row(source: str, target: str = "img/0.png", instruction: str = "make it red") -> dict:
    return {"id": "bad", "source_image": source, "target_image": target, "instruction": instruction}


def _skip_keeps_the_others(source, **kwargs) -> datasets.Dataset:
    dataset, report = load_edit_pairs(source, on_error="skip", **kwargs)
    assert list(dataset["id"]) == ["good-0", "good-1", "good-2"] and report.num_dropped == 1
    return dataset


def _cli(*argv: str, capsys) -> tuple[int, str]:
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err + captured.out


class DripServer:
    """Loopback server whose `/chat/completions` answers with `body(write)`: full control over the bytes."""

    def __init__(self, body: Callable) -> None:
        server = self
        self.sent = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    body(self._write)

            def _write(self, data: bytes):
                self.wfile.write(data)
                self.wfile.flush()
                server.sent += len(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _ask(url: str, **kwargs) -> tuple[Reply, float]:
    backend = HTTPBackend(url, "m", api_key_env=None, max_retries=0, **kwargs)
    start = time.perf_counter()
    (reply,) = backend.generate([Request([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])])
    return reply, time.perf_counter() - start


def _pairs(count: int) -> datasets.Dataset:
    images = [Image.new("RGB", (8, 8), (i * 20, 0, 0)) for i in range(count + 1)]
    return datasets.Dataset.from_dict(
        {
            "id": [f"p{i}" for i in range(count)],
            "source_image": images[:count],
            "target_image": images[1:],
            "instruction": ["x"] * count,
        },
        features=datasets.Features(
            id=datasets.Value("string"),
            source_image=datasets.Image(),
            target_image=datasets.Image(),
            instruction=datasets.Value("string"),
        ),
    )


# -- manifests and the loader --------------------------------------------------------------------------------


@kind("non-UTF-8 byte in a JSONL manifest")
def _(tmp_path, capsys):
    path = _manifest(tmp_path, [_row("img/0.png")])
    path.write_bytes(path.read_bytes().replace(b"make it red", b"make it r\xe9d"))
    with pytest.raises(DataValidationError, match=r"row 2, column 'instruction': byte 0xe9 .* not UTF-8.*re-save"):
        load_edit_pairs(path)
    _skip_keeps_the_others(path)


@kind("non-UTF-8 byte in a CSV manifest")
def _(tmp_path, capsys):
    for index in range(3):
        _png(tmp_path / f"img/{index}.png")
    lines = [b"id,source_image,target_image,instruction"]
    lines += [f"good-{i},img/{i}.png,img/0.png,x".encode() for i in range(2)]
    lines += [b"bad,img/0.png,img/1.png,caf\xe9", b"good-2,img/2.png,img/0.png,x"]
    (tmp_path / "manifest.csv").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataValidationError, match=r"row 2, column 'instruction': byte 0xe9"):
        load_edit_pairs(tmp_path / "manifest.csv")
    _skip_keeps_the_others(tmp_path / "manifest.csv")


@kind("image path with ../ leaving the manifest folder")
def _(tmp_path, capsys):
    _png(tmp_path / "outside.png")
    path = _manifest(tmp_path / "data", [_row("../outside.png")])
    with pytest.raises(DataValidationError, match=r"row 2, column 'source_image': .*leaves the folder.*allow_outside"):
        load_edit_pairs(path)
    _skip_keeps_the_others(path)
    assert len(load_edit_pairs(path, allow_outside_paths=True)[0]) == 4  # the explicit option lets it in


@kind("absolute image path outside the manifest folder")
def _(tmp_path, capsys):
    outside = _png(tmp_path / "elsewhere" / "x.png")
    path = _manifest(tmp_path / "data", [_row(str(outside))])
    _skip_keeps_the_others(path)


@kind("symlink inside the folder pointing outside")
def _(tmp_path, capsys):
    outside = _png(tmp_path / "elsewhere" / "x.png")
    (tmp_path / "data" / "img").mkdir(parents=True)
    (tmp_path / "data" / "img" / "link.png").symlink_to(outside)
    path = _manifest(tmp_path / "data", [_row("img/link.png")])
    _skip_keeps_the_others(path)


@kind("system files as images (/etc/hostname, /proc/self/environ)")
def _(tmp_path, capsys):
    for system_file in ("/etc/hostname", "/proc/self/environ", "../../../../etc/passwd"):
        path = _manifest(tmp_path / "data", [_row(system_file)])
        with pytest.raises(DataValidationError, match="leaves the folder") as error:
            load_edit_pairs(path, validation="off")  # refused at every validation level, before it is read
        assert error.value.row == 2 and error.value.column == "source_image"
        _skip_keeps_the_others(path, validation="off")


@kind("negative or zero limits on the command line")
def _(tmp_path, capsys):
    for flag, value in (("dataset_max_pixels", -5), ("dataset_validation_sample_size", 0)):
        with pytest.raises(ValueError, match=f"--{flag} must be a positive integer, got {value}"):
            DataArguments(**{flag: value})
    code, output = _cli("validate", "--dataset_name", "synthetic", "--dataset_max_pixels", "-5", capsys=capsys)
    assert code == 2 and "--dataset_max_pixels must be a positive integer, got -5" in output
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_edit_pairs("synthetic", max_pixels=0)


@kind("malformed JSON in --dataset_column_mapping")
def _(tmp_path, capsys):
    code, output = _cli("validate", "--dataset_column_mapping", "{bad", capsys=capsys)
    assert code == 2 and "--dataset_column_mapping is not valid JSON" in output and '{"source_image": "src"' in output
    with pytest.raises(ValueError, match="must map canonical column names"):
        DataArguments(dataset_column_mapping='["source_image"]')


@kind("validate: a path that does not exist")
def _(tmp_path, capsys):
    code, output = _cli("validate", "--dataset_name", str(tmp_path / "nope.jsonl"), capsys=capsys)
    assert code == 2 and "no such file or folder" in output and "nope.jsonl" in output


@kind("validate: a folder without a manifest")
def _(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, output = _cli("validate", "--dataset_name", str(tmp_path / "empty"), capsys=capsys)
    assert code == 2 and "holds no manifest (manifest.jsonl" in output


@kind("validate: a Hub id while offline")
def _(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # both libraries read it at import: set their copies too
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    code, output = _cli("validate", "--dataset_name", "someone/not-cached-here", capsys=capsys)
    assert code == 2 and "'someone/not-cached-here' is not a file or folder here" in output
    assert "download the dataset while online" in output


@kind("16-bit grey image in a manifest")
def _(tmp_path, capsys):
    path = _manifest(tmp_path, [_row("grey16.png")])
    Image.fromarray(np.full((6, 6), 30000, dtype=np.uint16)).save(tmp_path / "grey16.png")
    dataset, report = load_edit_pairs(path)
    assert report.converted_modes == {"I;16": 1}
    assert dataset[2]["source_image"].getpixel((0, 0)) == (117, 117, 117)  # 30000 / 257, not clipped to white


@kind("a line that is not JSON among good ones")
def _(tmp_path, capsys):
    path = _manifest(tmp_path, [_row("img/0.png")])
    path.write_bytes(path.read_bytes().replace(b'{"id": "bad"', b'{"id": bad'))
    with pytest.raises(DataValidationError, match=r"row 2, column '<line>': line is not valid JSON"):
        load_edit_pairs(path)
    _skip_keeps_the_others(path)


# -- Real-Edit -----------------------------------------------------------------------------------------------


def _real_edit(root: Path, table: dict, photos=None) -> Path:
    for key in table if photos is None else photos:
        _png(root / "imgs" / key)
    (root / "eval_instruct.json").write_text(json.dumps(table))
    return root


@kind('Real-Edit "<n>. <Type> Edit: ..." entries')
def _(tmp_path, capsys):
    root = _real_edit(tmp_path, {"1.jpg": ["1. Local Edit: Replace the hat.", "2. remove  EDIT : Remove the dog."]})
    bench = read_real_edit(root)
    assert [(i.edit_type, i.instruction) for i in bench.items] == [
        ("Local", "Replace the hat."),
        ("Remove", "Remove the dog."),
    ]
    assert bench.failures == []


@kind("Real-Edit entry that cannot be parsed")
def _(tmp_path, capsys):
    root = _real_edit(tmp_path, {"1.jpg": ["1. Local: a.", "2: ???", "3. Add: b."], "2.jpg": ["1. Style: c."]})
    bench = read_real_edit(root)
    assert [item.id for item in bench.items] == ["1_local", "1_add", "2_style"]
    (failure,) = bench.failures
    assert "eval_instruct.json['1.jpg']: entry '2: ???' is not of the form" in failure


@kind("Real-Edit filters do not parse what they leave out")
def _(tmp_path, capsys):
    root = _real_edit(tmp_path, {"1.jpg": ["garbage"], "2.jpg": ["1. Local: a.", "2. Remove: ??? b"]}, ["2.jpg"])
    assert read_real_edit(root, images=["2.jpg"]).failures == []  # 1.jpg (bad, no photo) is never read
    assert len(read_real_edit(root, images=["2.jpg"], edit_types=["Remove"]).items) == 1


@kind("Real-Edit photo missing")
def _(tmp_path, capsys):
    root = _real_edit(tmp_path, {"1.jpg": ["1. Local: a."], "2.jpg": ["1. Local: b."]}, ["2.jpg"])
    bench = read_real_edit(root)
    assert [item.key for item in bench.items] == ["2.jpg"] and "image" in bench.failures[0]
    assert "put the photo there" in bench.failures[0]


# -- the HTTP backend (a real loopback server) -----------------------------------------------------------------


@kind("HTTP reply larger than the byte cap (endless body)")
def _(tmp_path, capsys):
    def endless(write):
        chunk = b"x" * 65536
        for _ in range(2000):  # 128 MB if nobody stops reading
            write(chunk)

    server = DripServer(endless)
    try:
        reply, elapsed = _ask(server.url, timeout=20, max_reply_bytes=256 * 1024)
    finally:
        server.close()
    assert (
        not reply.ok and not reply.transient and "reply_too_large" in reply.error and "max_reply_bytes" in reply.error
    )
    assert elapsed < 10 and server.sent < 64 * 2**20  # stopped reading at the cap, long before the end


@kind("HTTP reply within the cap (a long answer still works)")
def _(tmp_path, capsys):
    answer = "word " * 2000  # 10 KB: the rectify task's summarise path gets it
    payload = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
    server = DripServer(lambda write: write(payload))
    try:
        reply, _ = _ask(server.url, timeout=20)
    finally:
        server.close()
    assert reply.ok and reply.text == answer.strip()


@kind("HTTP body dripped one byte at a time past the deadline")
def _(tmp_path, capsys):
    def drip(write):
        for _ in range(40):
            write(b" ")
            time.sleep(0.25)

    server = DripServer(drip)
    try:
        reply, elapsed = _ask(server.url, timeout=1.0)
    finally:
        server.close()
    assert not reply.ok and reply.transient and "deadline" in reply.error
    assert elapsed < 3.0  # httpx's per-read timeout alone would wait the whole 10 s


@kind("HTTP server down: transient failures retried on resume, permanent kept")
def _(tmp_path, capsys):
    answers = iter(
        [Reply(error="transient: gave up after 6 attempts; last: connection: refused")] * 2
        + [Reply(error="HTTP 400: bad request")]
        + [Reply(text="fine")] * 3
    )
    backend = ScriptedBackend(lambda request: next(answers))
    rows = run_task(_pairs(6), CaptionTask(), backend, tmp_path / "out", chunk_size=6, shard_size=2, progress=False)
    assert list(rows["synthesis_status"]) == ["failed", "failed", "failed", "ok", "ok", "ok"]
    again = ScriptedBackend(lambda request: "now it answers")
    rows = run_task(_pairs(6), CaptionTask(), again, tmp_path / "out", chunk_size=6, shard_size=2, progress=False)
    assert len(again.requests) == 2  # only the two transient failures were sent again
    assert list(rows["synthesis_status"]) == ["ok", "ok", "failed", "ok", "ok", "ok"]
    assert list(rows["id"]) == [f"p{i}" for i in range(6)]  # each row once, in order
    third = ScriptedBackend(lambda request: "fixed")
    rows = run_task(
        _pairs(6), CaptionTask(), third, tmp_path / "out", retry_failed="all", shard_size=2, progress=False
    )
    assert len(third.requests) == 1 and list(rows["synthesis_status"]) == ["ok"] * 6


@kind("kill inside the final dataset save")
def _(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "dataset"
    save_dataset_atomically(datasets.DatasetDict(train=datasets.Dataset.from_dict({"a": [1, 2]})), folder)

    def killed(self, path, **kwargs):
        Path(path, "data-00000-of-00001.arrow").write_bytes(b"")  # half-written, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", killed)
    with pytest.raises(KeyboardInterrupt):
        save_dataset_atomically(datasets.DatasetDict(train=datasets.Dataset.from_dict({"a": [3]})), folder)
    assert list(datasets.load_from_disk(str(folder))["train"]["a"]) == [1, 2]  # the previous output loads
    folder.rename(folder.with_name("dataset.previous"))  # killed between the two renames of the swap
    restore_previous_dataset(folder)
    assert list(datasets.load_from_disk(str(folder))["train"]["a"]) == [1, 2]


@kind("duplicate ids in a synthesis input")
def _(tmp_path, capsys):
    pairs = _pairs(4).map(lambda row, i: {"id": ["a", "b", "a", "c"][i]}, with_indices=True)
    with pytest.raises(ValueError, match=r"column 'id': ids must be unique.*1 are repeated: 'a' \(rows \[0, 2\]\)"):
        run_task(pairs, CaptionTask(), ScriptedBackend(lambda r: "x"), tmp_path / "out", progress=False)


@kind("same output folder, another model")
def _(tmp_path, capsys):
    run_task(_pairs(2), CaptionTask(), ScriptedBackend(lambda r: "x"), tmp_path / "out", progress=False)
    other = ScriptedBackend(lambda r: "x")
    other.model_name = "another-model"
    other.describe = lambda: {"backend": "scripted", "model": "another-model"}
    with pytest.raises(ValueError, match=r"holds rows of another job.*another model.*--overwrite true"):
        run_task(_pairs(2), CaptionTask(), other, tmp_path / "out", progress=False)


@kind("non-positive HTTP settings")
def _(tmp_path, capsys):
    for setting in ("timeout", "concurrency", "max_reply_bytes"):
        with pytest.raises(ValueError, match=f"{setting} must be positive"):
            HTTPBackend("http://127.0.0.1:9/v1", "m", **{setting: 0})


# -- secrets -------------------------------------------------------------------------------------------------


@kind("credentials in the URL: run_info, card, reasons")
def _(tmp_path, capsys, monkeypatch):
    url = f"http://user:{SECRET}@127.0.0.1:9/v1?api_key={SECRET}"
    backend = HTTPBackend(url, "m", api_key_env=None, max_retries=0, timeout=2)
    reply, _ = _ask(url, timeout=2)  # nothing listens on port 9: a connection error
    assert not reply.ok and SECRET not in reply.error
    monkeypatch.setattr(sys, "argv", ["edit-handbook synthesize", "--base_url", url])
    info = collect_run_info({"backend": backend.describe()})
    rows = run_task(_pairs(1), CaptionTask(), ScriptedBackend(lambda r: "x"), tmp_path / "out", progress=False)
    save_result(rows, CaptionTask(), backend, tmp_path / "out", run_info=info)
    write_run_info(tmp_path / "out", info)
    for written in (tmp_path / "out").rglob("*"):
        if written.is_file() and written.suffix in (".json", ".md"):
            assert SECRET not in written.read_text(), written
    assert "user:" not in repr(backend) and "***@127.0.0.1" in (tmp_path / "out" / "README.md").read_text()


@kind("credentials in command-line flags")
def _(tmp_path, capsys, monkeypatch):
    argv = ["sft", "--hub_token", SECRET, f"--api-key={SECRET}", "--max_new_tokens", "5", "--pad_token", "<pad>"]
    monkeypatch.setattr(sys, "argv", argv)
    info = collect_run_info({"hub_token": SECRET, "nested": {"password": SECRET, "pad_token": "<pad>"}})
    write_run_info(tmp_path, info)
    text = (tmp_path / "run_info.json").read_text()
    assert SECRET not in text and "--max_new_tokens 5" in text and '"pad_token": "<pad>"' in text
    assert redact(f"token hf_{'a' * 30} and sk-{'b' * 24}") == "token *** and ***"


@kind("push: a secret in a file, a link to a file outside")
def _(tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "trainer_log.txt").write_text(f"started with --hub_token {SECRET}\n")
    (folder / "weights.bin").write_bytes(SECRET.encode())  # not text: not rewritten (and not ours to edit)
    assert check_upload_folder(folder) == [folder / "trainer_log.txt"]
    assert SECRET not in (folder / "trainer_log.txt").read_text()
    (folder / "leak.txt").symlink_to(_png(tmp_path / "private.png"))
    with pytest.raises(ValueError, match="links to .*private.png, outside .*copy the file into the folder"):
        check_upload_folder(folder)


@kind("push dataset whose images are paths outside its folder")
def _(tmp_path, capsys):
    outside = _png(tmp_path / "home" / "photo.png")
    inside = _png(tmp_path / "ds" / "img.png")
    table = datasets.Dataset.from_dict(
        {"source_image": [str(inside), str(outside)]}, features=datasets.Features(source_image=datasets.Image())
    )
    with pytest.raises(ValueError, match=r"train row 1: image path .*photo.png leaves the folder.*copy the images"):
        check_no_outside_images(datasets.DatasetDict(train=table), tmp_path / "ds")
    check_no_outside_images(datasets.DatasetDict(train=table.select([0])), tmp_path / "ds")


# -- captioner, recipes --------------------------------------------------------------------------------------


@kind("captioner: extreme aspect ratio (4000x10)")
def _(tmp_path, capsys):
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    strip = Image.new("RGB", (4000, 10), (0, 0, 255))
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 4000, factor=32)
    ready = model_ready(strip)
    assert ready.size == (4000, 40) and smart_resize(ready.height, ready.width, factor=32)  # accepted now
    assert ready.getpixel((0, 20)) == (0, 0, 255) and ready.getpixel((0, 0)) == (255, 255, 255)  # padded


@kind("recipe started before the recipe that writes its model")
def _(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(FileNotFoundError) as error:
        check_model_location("outputs/editcaption/smoke/sft")
    message = str(error.value)
    assert "recipes/editcaption/smoke/sft/config_smoke.yaml" in message and "run that recipe first" in message
    check_model_location("Qwen/Qwen3-VL-8B-Instruct")  # a Hub id is left to from_pretrained


# -- the Space -----------------------------------------------------------------------------------------------


LIMITS = InputLimits()


@kind("Space: MPO JPEG from a phone")
def _(tmp_path, capsys):
    first, second = Image.new("RGB", (40, 30), (10, 200, 10)), Image.new("RGB", (40, 30), (0, 0, 0))
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[second])
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    image = load_image(tmp_path / "phone.jpg", "Source image", LIMITS)
    assert image.mode == "RGB" and image.size == (40, 30) and image.getpixel((5, 5))[1] > 150  # the first picture


@kind("Space: 16-bit greyscale PNG")
def _(tmp_path, capsys):
    Image.fromarray(np.full((20, 20), 30000, dtype=np.uint16)).save(tmp_path / "grey.png")
    image = load_image(tmp_path / "grey.png", "Source image", LIMITS)
    assert np.asarray(image).mean() == pytest.approx(117, abs=1)  # not white


@kind("Space: a file that does not exist, or no file at all")
def _(tmp_path, capsys):
    with pytest.raises(InputError, match="Source image: the uploaded file 'gone.png' is no longer there; upload"):
        load_image(tmp_path / "gone.png", "Source image", LIMITS)
    with pytest.raises(InputError, match="Source image: expected an uploaded file, got int"):
        load_image(3, "Source image", LIMITS)


@kind("Space: instruction as bytes, a number, or with NUL and escape codes")
def _(tmp_path, capsys):
    for value in (b"make it red", 42):
        with pytest.raises(InputError, match="Instruction: expected text"):
            check_instruction(value, "Instruction", LIMITS)
    assert check_instruction("make\x00 it \x1b[31mred", "Instruction", LIMITS) == "make it [31mred"


# -- memory ----------------------------------------------------------------------------------------------------


# Peak memory is the child's VmHWM: its `ru_maxrss` would start at pytest's size, which Linux keeps across the
# fork and exec. CPU seconds come from getrusage: on a shared machine they say more than wall time does.
MEASURE = """
import json, resource, sys, time
from edit_handbook.data.loading import load_edit_pairs
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
dataset, report = load_edit_pairs(sys.argv[1], validation="full")
after = resource.getrusage(resource.RUSAGE_SELF)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(json.dumps({"peak_mb": int(status["VmHWM"].split()[0]) / 1024, "cpu_s": after.ru_utime + after.ru_stime
    - before.ru_utime - before.ru_stime, "wall_s": time.perf_counter() - start, "modes": dict(report.converted_modes)}))
"""


@kind("validating a 64 MP 16-bit image")
def _(tmp_path, capsys):
    side = 8000
    ramp = (np.arange(side, dtype=np.uint32)[:, None] * 65535 // (side - 1)).astype(np.uint16)
    Image.fromarray(np.broadcast_to(ramp, (side, side)).copy()).save(tmp_path / "big.png", compress_level=1)
    path = _manifest(tmp_path, [_row("big.png")])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"64 MP 16-bit validation: {figures}")
    assert figures["modes"] == {"I;16": 1}
    assert figures["peak_mb"] <= 600  # was 1.8 GB: the size comes from the header, grey converted in blocks
    assert figures["cpu_s"] <= 3.0


# -- the suite -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_bad_input_kind(name, tmp_path, capsys, monkeypatch, request):
    function = KINDS[name]
    wanted = function.__code__.co_varnames[: function.__code__.co_argcount]
    fixtures = {"tmp_path": tmp_path, "capsys": capsys, "monkeypatch": monkeypatch}
    function(**{key: fixtures[key] for key in wanted})


def test_count_of_kinds(capsys):
    with capsys.disabled():
        print(f"\nhostile-input fuzz suite: {len(KINDS)} kinds of bad input tried")
    assert len(KINDS) >= 30
