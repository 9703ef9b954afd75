"""serve.py as a person uses it: the real server in a child process, the page in headless
Chromium (Debian's chromium, driven by Playwright), a digit drawn with the mouse, a photo
dropped on the page and one chosen, and the page on a phone's screen. With
LENET5_SCREENSHOTS=FOLDER it also saves the screenshots docs/serve.md shows."""

import base64
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sudoku_pages
from conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright: pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("the browser test needs Chromium: apt-get install chromium", allow_module_level=True)


@pytest.fixture()
def server(real_model):
    with serving(real_model) as (_, url):
        yield url


def draw_a_seven(page) -> None:
    """A 7 drawn on the page's canvas with the mouse: the bar, then the stem down to the left."""
    box = page.locator("#pad").bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.25 * w, y + 0.2 * h)
    page.mouse.down()
    for t in range(1, 11):
        page.mouse.move(x + (0.25 + 0.5 * t / 10) * w, y + 0.2 * h)
    for t in range(1, 16):
        page.mouse.move(x + (0.75 - 0.3 * t / 15) * w, y + (0.2 + 0.65 * t / 15) * h)
    page.mouse.up()


def drop_file(page, path: Path) -> None:
    """``path`` dropped on the page's drop area, as a file dragged from the desktop arrives."""
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    transfer = page.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/png"}));
            return transfer;
        }""", [path.name, payload])
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#drop", event, {"dataTransfer": transfer})


BOX_DRAWN = """() => {
    const data = document.getElementById("marks").getContext("2d").getImageData(0, 0, 280, 280).data;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i + 1] > 2 * data[i]) return true;
    return false;
}"""


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def test_draw_a_digit_drop_and_choose_photos(server, digits_dir):
    shots = os.environ.get("LENET5_SCREENSHOTS")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server)
        draw_a_seven(page)
        sync_api.expect(page.locator("#answer")).to_have_text("7", timeout=15000)
        assert page.locator("#bars .bar").count() == 10
        assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
        assert page.evaluate(BOX_DRAWN)
        if shots:
            page.screenshot(path=str(Path(shots) / "serve_page.png"))

        page.click("#clear")
        sync_api.expect(page.locator("#answer")).to_have_text("\u00a0")
        drop_file(page, digits_dir / "digit_4.png")
        sync_api.expect(page.locator("#answer")).to_have_text("4", timeout=15000)
        assert page.evaluate(BOX_DRAWN)  # the photo is shown with the box the digit was found in
        if shots:
            page.screenshot(path=str(Path(shots) / "serve_photo.png"))

        page.set_input_files("#file", str(digits_dir / "digit_8.png"))
        sync_api.expect(page.locator("#answer")).to_have_text("8", timeout=15000)

        page.set_input_files("#file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"})
        sync_api.expect(page.locator("#error")).to_contain_text("notes.png", timeout=15000)
        browser.close()


def test_the_page_fits_a_phone(server):
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 360, "height": 740}, has_touch=True)
        page.goto(server)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing to scroll sideways for
        pad = page.locator("#pad").bounding_box()
        assert pad["x"] >= 0 and pad["x"] + pad["width"] <= 360 and pad["width"] >= 250
        draw_a_seven(page)
        sync_api.expect(page.locator("#answer")).to_have_text("7", timeout=15000)
        if os.environ.get("LENET5_SCREENSHOTS"):
            page.screenshot(path=str(Path(os.environ["LENET5_SCREENSHOTS"]) / "serve_phone.png"), full_page=True)
        browser.close()


def test_an_answer_that_comes_after_clear_is_not_shown(server):
    """A reading still on its way when the person presses Clear must not bring the old answer back."""
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        held = []
        page.route("**/api/predict*", lambda route: held.append(route))  # each request waits here until released
        page.goto(server)
        draw_a_seven(page)
        page.wait_for_function("() => busy", timeout=15000)
        while not held:
            page.wait_for_timeout(50)
        page.click("#clear")
        with page.expect_response("**/api/predict*", timeout=15000):
            held.pop().continue_()
        page.wait_for_function("() => !busy", timeout=15000)
        assert page.locator("#answer").text_content() == "\u00a0"
        assert page.locator("#bars .bar").count() == 0
        browser.close()


def test_number_and_sudoku_modes(server, digits_dir, tmp_path):
    """The page's other two readings: a photo of a number read whole, a photo of a sudoku
    read as its grid; each as the person picks it in the menu."""
    digits = [np.asarray(Image.open(digits_dir / f"digit_{d}.png").convert("L")) for d in (4, 0, 7)]
    number = tmp_path / "amount.png"
    Image.fromarray(255 - np.pad(np.concatenate(digits, 1), 24)).save(number)  # dark ink on white, as written
    photo, grid, _ = sudoku_pages.puzzle_photo(np.random.default_rng(0), shadow=False)
    puzzle = tmp_path / "puzzle.png"
    Image.fromarray(photo).save(puzzle)
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server)
        page.select_option("#mode", "number")
        page.set_input_files("#file", str(number))
        sync_api.expect(page.locator("#answer")).to_have_text("407", timeout=15000)
        sync_api.expect(page.locator("#detail")).to_contain_text("3 digit(s)")
        page.select_option("#mode", "sudoku")
        page.set_input_files("#file", str(puzzle))
        sync_api.expect(page.locator("#answer")).to_have_text("sudoku", timeout=15000)
        rows = page.locator("#grid").text_content().split("\n")
        assert len(rows) == 9 and all(len(row.split()) == 9 for row in rows)
        shown = [int(v) if v != "." else 0 for row in rows for v in row.split()]
        given = np.flatnonzero(grid)
        assert (np.array(shown)[given] == grid[given]).mean() >= 0.9  # the printed givens, in the grid or its solution
        browser.close()
