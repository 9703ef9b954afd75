"""serve.py as a person uses it: the real server in a child process, the page in headless
Chromium (Debian's chromium, driven by Playwright), a digit drawn with the mouse and a photo
chosen. With LENET5_SCREENSHOTS=FOLDER it also saves the screenshots docs/serve.md shows."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright: pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("the browser test needs Chromium: apt-get install chromium", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(real_model):
    port = free_port()
    child = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--model", str(real_model), "--port", str(port)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1)
                break
            except OSError:
                if child.poll() is not None:
                    pytest.fail(f"serve.py stopped: {child.stdout.read()}")
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_draw_a_digit_and_choose_a_photo(server, digits_dir):
    shots = os.environ.get("LENET5_SCREENSHOTS")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server)
        box = page.locator("#pad").bounding_box()
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        page.mouse.move(x + 0.25 * w, y + 0.2 * h)  # a 7: the bar, then the stem down to the left
        page.mouse.down()
        for t in range(1, 11):
            page.mouse.move(x + (0.25 + 0.5 * t / 10) * w, y + 0.2 * h)
        for t in range(1, 16):
            page.mouse.move(x + (0.75 - 0.3 * t / 15) * w, y + (0.2 + 0.65 * t / 15) * h)
        page.mouse.up()
        sync_api.expect(page.locator("#answer")).to_have_text("7", timeout=15000)
        assert page.locator("#bars .bar").count() == 10
        assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
        if shots:
            page.screenshot(path=str(Path(shots) / "serve_drawn.png"))

        page.click("#clear")
        page.set_input_files("#file", str(digits_dir / "digit_4.png"))
        sync_api.expect(page.locator("#answer")).to_have_text("4", timeout=15000)
        if shots:
            page.screenshot(path=str(Path(shots) / "serve_photo.png"))

        page.set_input_files("#file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"})
        sync_api.expect(page.locator("#error")).to_contain_text("notes.png", timeout=15000)
        browser.close()
