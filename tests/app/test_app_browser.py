"""The app in a real headless Chromium (Debian's /usr/bin/chromium, driven by Selenium): every view,
an uploaded demo image checked against `filo predict`, and a screenshot of each view.

Set FILO_SCREENSHOT_DIR to also keep the screenshots there (docs/ holds the README's). `.ci/run`
installs Chromium with apt and sets FILO_REQUIRE_BROWSER=1, so a missing browser fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from prediction.builders import VISA_CATEGORY

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000")
WAIT_S = 120

pytestmark = pytest.mark.slow


@pytest.fixture
def app_url(demo, monkeypatch):
    """The app over the demo, served by uvicorn in a thread on a free local port."""
    import socket

    import uvicorn

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(demo.settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium from Debian's packages with a fresh profile."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        if os.environ.get("FILO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: apt-get install -y chromium chromium-driver")
        pytest.skip("no Debian chromium + chromium-driver (apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    """Save a PNG of the page (and copy it to $FILO_SCREENSHOT_DIR when set)."""
    path = tmp_path / f"app-{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 0
    if os.environ.get("FILO_SCREENSHOT_DIR"):
        shutil.copyfile(path, Path(os.environ["FILO_SCREENSHOT_DIR"]) / path.name)
    return path


def test_every_view_works_in_chromium(app_url, browser, demo, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    from filo.cli import main

    wait = WebDriverWait(browser, WAIT_S)
    image = demo.images[-1]
    assert main(["predict", str(image), "--category", VISA_CATEGORY, "--out-dir", str(tmp_path / "cli")]) == 0
    expected = json.loads(capsys.readouterr().out.splitlines()[-1])

    # Predict: upload the image, wait for its overlay at full size, compare with filo predict.
    browser.get(f"{app_url}/predict")
    category = browser.find_element(By.ID, "category")  # free text, with the known categories suggested
    category.clear()
    category.send_keys(VISA_CATEGORY)
    assert browser.find_element(By.ID, "descriptions").text.strip()
    browser.find_element(By.ID, "files").send_keys(str(image))
    card = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".card")))
    overlay = card.find_element(By.CSS_SELECTOR, "img.shown")
    wait.until(lambda _: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", overlay))
    from PIL import Image

    with Image.open(image) as photo:
        assert browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]",
                                      overlay) == list(photo.size)
    assert card.find_element(By.CSS_SELECTOR, ".score").text == f"{expected['score']:.5f}"
    assert card.find_element(By.CSS_SELECTOR, ".verdict").text == expected["verdict"]
    assert card.find_element(By.CSS_SELECTOR, ".threshold").text == f"{expected['threshold']:.5f}"
    assert browser.find_element(By.ID, "status").text.startswith("1 / 1")
    screenshot(browser, tmp_path, "predict")
    card.find_element(By.CSS_SELECTOR, "button.flip").click()
    assert "photo" in overlay.get_attribute("class")

    # A non-image upload: a message in the page, and the page keeps working.
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    browser.find_element(By.ID, "files").send_keys(str(bad))
    message = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#messages .err")))
    assert "notes.png is not an image" in message.text

    # Results: metrics, histograms, and every image's overlay next to its ground truth.
    browser.get(f"{app_url}/results")
    browser.find_element(By.LINK_TEXT, "mvtec_to_visa").click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "img.overlay") and all(
        "loaded" in img.get_attribute("class") for img in browser.find_elements(By.CSS_SELECTOR, "img.overlay")))
    assert browser.find_elements(By.CSS_SELECTOR, "#metrics tr") and browser.find_elements(By.CSS_SELECTOR, "svg.hist")
    browser.set_window_size(1280, 2400)  # the whole page: metrics, curves, histograms and the image table
    screenshot(browser, tmp_path, "results")
    browser.set_window_size(1280, 1000)

    # The ground-truth masks of the anomalous images (VisA's Anomaly/ files come first by image id), shown.
    browser.get(f"{app_url}/results/mvtec_to_visa?sort=image_id&order=asc")
    masks = wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "img[alt='ground truth']"))
    wait.until(lambda _: all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
                             for img in masks))

    # Models: the registered version with its alias and calibration.
    browser.find_element(By.ID, "nav-models").click()
    table = wait.until(ready.presence_of_element_located((By.ID, "versions")))
    assert "champion" in table.text and "rule: fpr" in table.text
    screenshot(browser, tmp_path, "models")
