"""The demo Space in a real headless Chromium: every tab, driven the way a user drives it.

The app runs as `python spaces/edit-handbook/app.py --tiny` on a free loopback port (the shipped captioner that
sees and the tutorial editor). Its Rectify tab takes negatives from a loopback chat-completions server standing in for GPT-4o
(the paper's negatives writer): it answers with the synthetic pair's ground-truth single-attribute negatives,
which the app screens and shows. Screenshots go to a temporary folder; with $EDIT_HANDBOOK_SPACE_SCREENSHOT set
(see scripts/space_screenshot.py) the Rectify tab is also saved there for the README.

Chromium (Debian's `chromium`) and Playwright missing: skipped locally, a failure when $CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image
from tests.fixtures_serving import free_port, serving_process
from tests.synth_servers import FaultServer, request_text

from edit_handbook.data import schema
from edit_handbook.data.synthetic import generate_pairs
from edit_handbook.space.settings import NEGATIVES_MODEL_ENV, NEGATIVES_URL_ENV


pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "spaces" / "edit-handbook" / "app.py"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_ENV = "EDIT_HANDBOOK_SPACE_SCREENSHOT"
RESULT_TIMEOUT_MS = 60_000


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test (.ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[tests]')")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict:
    """One synthetic pair as PNG files, a 256 x 192 crop for the editor, and a 4200 x 4200 image over the limit."""
    folder = tmp_path_factory.mktemp("space-inputs")
    row = next(generate_pairs(1, seed=3, image_size=256, edit_types=("move",)))
    paths = {name: folder / f"{name}.png" for name in ("source", "target", "wide", "huge")}
    row[schema.SOURCE_IMAGE].save(paths["source"])
    row[schema.TARGET_IMAGE].save(paths["target"])
    row[schema.SOURCE_IMAGE].crop((0, 0, 256, 192)).save(paths["wide"])
    Image.new("RGB", (4200, 4200), (40, 90, 160)).save(paths["huge"])  # 17.6 MP, tiny in bytes
    return {**paths, "row": row}


@pytest.fixture(scope="module")
def negatives_server(pair):
    """Answers the negatives request with the pair's ground-truth negatives; records what it was asked."""
    row = pair["row"]
    answer = {
        "negatives": [
            {"attribute": attribute, "instruction": text}
            for attribute, text in zip(row["negative_attributes"], row[schema.NEGATIVES])
        ]
    }
    asked: list[str] = []

    def respond(body: dict) -> str:
        asked.append(request_text(body))
        return json.dumps(answer)

    with FaultServer(respond) as server:
        server.asked = asked
        yield server


@pytest.fixture(scope="module")
def app_url(negatives_server, tmp_path_factory):
    """The app with --tiny on a free loopback port (its captioner and editor are shipped checkpoints)."""
    port = free_port()
    log = tmp_path_factory.mktemp("space-log") / "app.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        NEGATIVES_URL_ENV: negatives_server.base_url,
        NEGATIVES_MODEL_ENV: "scripted-negatives",
    }
    command = [sys.executable, str(APP), "--tiny", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/"
    with serving_process(command, log, url, env=env, ready_s=120, what="the Space app"):
        yield url


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("space-screenshots")


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    page.wait_for_selector("#describe-run")
    yield page
    page.close()


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.locator(f"#{elem_id} img").first.wait_for()  # the preview: the upload has reached the server


def _textbox(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea")


def test_describe_tab_writes_an_instruction(page, pair, screenshots):
    from playwright.sync_api import expect

    _upload(page, "describe-source", pair["source"])
    _upload(page, "describe-target", pair["target"])
    page.click("#describe-run")
    output = _textbox(page, "describe-output")
    expect(output).not_to_have_value("", timeout=RESULT_TIMEOUT_MS)
    text = output.input_value()
    assert len(text.split()) >= 3 and text[0].isupper(), text  # a sentence from the captioner, not a stray token
    assert page.locator("#describe-status").inner_text().strip() == ""
    page.screenshot(full_page=True, path=screenshots / "describe.png")


def test_edit_tab_returns_an_image_at_the_working_size(page, pair, screenshots):
    from playwright.sync_api import expect

    _open_tab(page, "Edit an image")
    _upload(page, "edit-source", pair["wide"])
    _textbox(page, "edit-text").fill(pair["row"][schema.INSTRUCTION])
    page.click("#edit-run")
    expect(page.locator("#edit-status")).to_contain_text("Edited at", timeout=RESULT_TIMEOUT_MS)
    image = page.locator("#edit-output img").first
    image.wait_for()
    # The tiny (tutorial) editor works at 32 px on the longer side, sides rounded to its multiple of 4: 256 x 192
    # -> 32 x 24.
    size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [32, 24]
    page.screenshot(full_page=True, path=screenshots / "edit.png")


def test_rectify_tab_shows_the_rectified_instruction_and_its_negatives(page, pair, negatives_server, screenshots):
    from playwright.sync_api import expect

    row = pair["row"]
    _open_tab(page, "Rectify")
    _upload(page, "rectify-source", pair["source"])
    _upload(page, "rectify-target", pair["target"])
    _textbox(page, "rectify-text").fill(row["flawed_instructions"][0])
    page.click("#rectify-run")
    output = _textbox(page, "rectify-output")
    expect(output).not_to_have_value("", timeout=RESULT_TIMEOUT_MS)
    rectified = output.input_value()
    rows = page.locator("#rectify-negatives div[role=row]")  # the table's body rows (the header is a <tr>)
    expect(rows).to_have_count(len(row[schema.NEGATIVES]), timeout=RESULT_TIMEOUT_MS)
    shown = [tuple(cell.inner_text().strip() for cell in tr.locator("[role=gridcell]").all()) for tr in rows.all()]
    assert shown == list(zip(row["negative_attributes"], row[schema.NEGATIVES]))
    # The negatives were asked for from the rectified instruction, through the synthesis engine's request.
    assert any(f'instruction for this pair is: "{rectified}"' in text for text in negatives_server.asked)
    page.screenshot(full_page=True, path=screenshots / "rectify.png")
    if os.environ.get(SCREENSHOT_ENV):
        page.screenshot(full_page=True, path=os.environ[SCREENSHOT_ENV])


def test_oversized_upload_is_refused_with_a_clear_message(page, pair, screenshots):
    from playwright.sync_api import expect

    _upload(page, "describe-source", pair["huge"])
    _upload(page, "describe-target", pair["target"])
    page.click("#describe-run")
    toast = page.locator("[data-testid='toast-body']")
    expect(toast).to_contain_text("4200 x 4200 pixels (17.6 MP) is over the 16.8 MP limit", timeout=RESULT_TIMEOUT_MS)
    expect(toast).to_contain_text("Source image")
    assert _textbox(page, "describe-output").input_value() == ""
    page.screenshot(full_page=True, path=screenshots / "oversized.png")
