"""The app in a real browser: headless Chromium, driven by Selenium, against `gpt-from-scratch serve`.

Chromium and its driver are Debian's chromium and chromium-driver packages (.ci/run installs them
where they are missing); without them these tests fail, never skip. Each page's screenshot is saved
under the test session's output folder, and also to $GPT_FROM_SCRATCH_SCREENSHOTS when it is set:
`GPT_FROM_SCRATCH_SCREENSHOTS=docs/images pytest tests/test_serve_browser.py` renews the README's.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from serving import HAM, SPAM

from gpt_from_scratch.app.inference import uploaded_messages

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio")]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no update checks or other calls out of this machine
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
WAIT_S = 60
VERDICT = re.compile(r"(spam|not spam) P\(spam\) = (\d\.\d{3})")
RED, BLUE = "rgba(220, 38, 38, 1)", "rgba(37, 99, 235, 1)"  # the colours of spam and of not spam


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> WebDriver:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "the browser tests need Chromium and its driver: apt-get install chromium chromium-driver",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())}")
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as err:
        pytest.fail(f"Chromium did not start: {err.msg}", pytrace=False)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> list[Path]:
    """Where screenshots go: the session's output folder, and $GPT_FROM_SCRATCH_SCREENSHOTS if set."""
    folders = [tmp_path_factory.mktemp("screenshots")]
    if os.environ.get("GPT_FROM_SCRATCH_SCREENSHOTS"):
        folders.append(Path(os.environ["GPT_FROM_SCRATCH_SCREENSHOTS"]))
        folders[-1].mkdir(parents=True, exist_ok=True)
    return folders


def screenshot(browser: WebDriver, folders: list[Path], name: str) -> None:
    """Save the whole page (the window stretched to its height) as name in every folder."""
    width, height = browser.get_window_size()["width"], browser.get_window_size()["height"]
    for _ in range(3):  # a taller window can lay the page out taller still: stretch until it fits
        page = browser.execute_script("return document.documentElement.scrollHeight")
        if page <= browser.execute_script("return window.innerHeight"):
            break
        browser.set_window_size(width, page + browser.get_window_size()["height"] - height + 40)
        time.sleep(0.5)
    for folder in folders:
        assert browser.save_screenshot(str(folder / name)), folder / name
        print(f"screenshot: {folder / name}")
    browser.set_window_size(width, height)


def wait_for(browser: WebDriver, condition, timeout: float = WAIT_S):
    """condition(browser)'s first truthy value, polled until timeout."""
    # A Gradio page re-renders as answers arrive: an element read mid-render is stale, so poll again.
    waiting = WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return waiting.until(lambda b: condition(b))


def text_of_all(browser: WebDriver, selector: str) -> list[str]:
    """The texts of the elements matching selector now ([] while the page re-renders them)."""
    try:
        return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]
    except StaleElementReferenceException:
        return []


def open_tab(browser: WebDriver, url: str, name: str) -> None:
    """Load the app and switch to the tab titled name."""
    browser.get(url)
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#message textarea"))
    tab = next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if t.text == name)
    tab.click()


def text_of(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def background(browser: WebDriver, selector: str) -> str:
    """The background colour the browser draws the first element matching selector in."""
    return browser.find_element(By.CSS_SELECTOR, selector).value_of_css_property("background-color")


def toast(browser: WebDriver) -> str:
    """The error toast's text, once it is filled in (it appears first, empty)."""
    return wait_for(browser, lambda b: " ".join(text_of_all(b, "[data-testid=toast-text]")).strip())


def upload(browser: WebDriver, path: Path) -> None:
    """Put path in the Many messages tab's file box, clearing a file already there."""
    for clear in browser.find_elements(By.CSS_SELECTOR, "#upload button[aria-label=Clear]"):
        clear.click()
    box = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    box[0].send_keys(str(path))
    wait_for(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, f'#upload td.filename[aria-label="{path.name}"]')
    )


def test_a_typed_message_gets_its_label_probability_and_reasons(browser, server, served, screenshots):
    open_tab(browser, server.url, "One message")
    heading = " ".join(browser.find_element(By.TAG_NAME, "body").text.split())
    assert "finetune wrote to spam-classifier , on cpu" in heading  # the name typed, not a test's folder
    browser.find_element(By.CSS_SELECTOR, "#message textarea").send_keys(SPAM)
    browser.find_element(By.ID, "classify").click()
    shown = wait_for(browser, lambda b: VERDICT.search(text_of(b, "verdict")))
    answer = served.answer(SPAM)
    assert shown.group(1) == answer.prediction.label == "spam"
    assert shown.group(2) == f"{answer.prediction.spam_probability:.3f}"
    assert "probability" not in text_of(browser, "verdict")  # one probability: P(spam)
    assert background(browser, "#verdict .label") == RED
    legend = text_of(browser, "explanation")
    assert "red pushed P(spam) up, towards spam; blue pushed it down, towards not spam" in legend
    tokens = browser.find_elements(By.CSS_SELECTOR, "#explanation span.token")
    assert len(tokens) == len(answer.pieces)
    for token, piece in zip(tokens, answer.pieces, strict=True):
        assert float(token.get_attribute("data-change")) == pytest.approx(piece.change, abs=1e-6)
    assert " ".join("".join(t.text for t in tokens).split()) == " ".join(SPAM.split())
    assert "occlusion" in browser.find_element(By.TAG_NAME, "body").text  # the page says how
    top = max(answer.pieces, key=lambda piece: abs(piece.change))
    first_row = [
        browser.find_element(By.CSS_SELECTOR, f'#strongest [data-testid="cell-0-{c}"]') for c in range(3)
    ]
    assert [cell.text for cell in first_row[:2]] == [str(top.positions[0] + 1), repr(top.text)]
    assert "gradient × input" in text_of(browser, "explanation")
    screenshot(browser, screenshots, "app-one-message.png")
    # The other method: occlusion, the change itself.
    browser.find_element(By.XPATH, "//*[@id='method']//label[contains(., 'occlusion')]").click()
    browser.find_element(By.ID, "classify").click()
    wait_for(browser, lambda b: "occlusion" in text_of(b, "explanation"))
    occluded = served.answer(SPAM, "occlusion")
    tokens = browser.find_elements(By.CSS_SELECTOR, "#explanation span.token")
    changes = [float(token.get_attribute("data-change")) for token in tokens]
    assert changes == pytest.approx([piece.change for piece in occluded.pieces], abs=1e-6)
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(server.url) for url in loaded), loaded  # nothing from outside


def test_an_empty_message_shows_the_reason(browser, server, screenshots):
    open_tab(browser, server.url, "One message")
    browser.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("   ")
    browser.find_element(By.ID, "classify").click()
    refused = toast(browser)
    assert refused.startswith("the message is empty"), refused
    screenshot(browser, screenshots, "app-empty-message.png")


def test_enter_classifies_and_shift_enter_starts_a_new_line(browser, server, served):
    open_tab(browser, server.url, "One message")
    box = browser.find_element(By.CSS_SELECTOR, "#message textarea")
    box.send_keys("Are we still meeting", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "for dinner tonight?")
    assert box.get_attribute("value") == "Are we still meeting\nfor dinner tonight?"
    assert "P(spam)" not in text_of(browser, "verdict")  # a new line is not a request
    box.send_keys(Keys.ENTER)
    shown = wait_for(browser, lambda b: VERDICT.search(text_of(b, "verdict")))
    answer = served.answer("Are we still meeting\nfor dinner tonight?")
    assert shown.groups() == (answer.prediction.label, f"{answer.prediction.spam_probability:.3f}")
    assert box.get_attribute("value") == "Are we still meeting\nfor dinner tonight?"  # Enter added no line
    assert background(browser, "#verdict .label") == BLUE
    # The tiny classifier colours every token of this not-spam message red: the page says why.
    assert text_of(browser, "note").startswith("Every token is red, and the verdict is not spam:")


def test_an_error_after_an_answer_leaves_no_earlier_answer_showing(browser, server, screenshots):
    open_tab(browser, server.url, "One message")
    box = browser.find_element(By.CSS_SELECTOR, "#message textarea")
    box.send_keys(HAM)
    browser.find_element(By.ID, "classify").click()
    wait_for(browser, lambda b: "P(spam)" in text_of(b, "verdict"))
    box.clear()
    box.send_keys("   ")
    browser.find_element(By.ID, "classify").click()
    assert toast(browser).startswith("the message is empty")
    screenshot(browser, screenshots, "stale-one-message.png")
    assert "spam" not in text_of(browser, "verdict")
    assert text_of(browser, "note") == ""
    assert browser.find_elements(By.CSS_SELECTOR, "#explanation span.token") == []
    assert browser.find_elements(By.CSS_SELECTOR, '#strongest [data-testid^="cell-"]') == []


def test_a_refused_upload_after_a_good_one_leaves_no_earlier_results(browser, server, screenshots, tmp_path):
    good, refused = tmp_path / "inbox.csv", tmp_path / "people.csv"
    pd.DataFrame({"text": [HAM, SPAM]}).to_csv(good, index=False)
    refused.write_text("name,phone\nAnn,123\n", encoding="utf-8")
    open_tab(browser, server.url, "Many messages")
    upload(browser, good)
    browser.find_element(By.ID, "classify-all").click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#download a[href]"))
    upload(browser, refused)
    browser.find_element(By.ID, "classify-all").click()
    assert toast(browser).startswith("people.csv has no text column")
    screenshot(browser, screenshots, "stale-many-messages.png")
    assert "classified" not in text_of(browser, "summary")
    assert browser.find_elements(By.CSS_SELECTOR, '#results [data-testid^="cell-"]') == []
    assert browser.find_elements(By.CSS_SELECTOR, "#download a[href]") == []  # no old CSV to take for new


def test_a_message_of_100000_characters_is_classified_with_the_truncation_note(browser, server, served):
    text = ("WIN a free holiday now! " * 5000)[:100_000]
    open_tab(browser, server.url, "One message")
    box = browser.find_element(By.CSS_SELECTOR, "#message textarea")
    # Typing 100,000 keys would take minutes: paste it, as a user would, through the input event.
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}))",
        box,
        text,
    )
    browser.find_element(By.ID, "classify").click()
    wait_for(browser, lambda b: "Truncated" in text_of(b, "note"))
    answer = served.answer(text)
    assert f"{answer.num_tokens:,} tokens long" in text_of(browser, "note")
    assert f"({answer.prediction.spam_probability:.3f}" in text_of(browser, "verdict").replace("= ", "(")
    unread = browser.find_element(By.CSS_SELECTOR, "#explanation .message .unread").text
    assert unread.endswith(f"and {len(answer.unread) - 300:,} more characters")


def test_an_uploaded_file_gives_the_sorted_table_and_its_csv(browser, server, served, screenshots, tmp_path):
    path = tmp_path / "inbox.csv"
    messages = [
        HAM,
        SPAM,
        "",
        "Ok lar... Joking wif u oni...",
        "FREE entry! Txt WIN to 87121 to claim your prize",
    ]
    pd.DataFrame({"id": range(1, 6), "text": messages}).to_csv(path, index=False)
    open_tab(browser, server.url, "Many messages")
    upload(browser, path)
    browser.find_element(By.ID, "classify-all").click()
    wait_for(browser, lambda b: "classified" in text_of(b, "summary"))
    assert "4 message(s)" in text_of(browser, "summary") and "Skipped 1 empty message(s): rows 4." in text_of(
        browser, "summary"
    )
    batch = served.classify_messages(uploaded_messages(path, "inbox.csv"))

    def cell(row: int, column: int) -> str:
        return browser.find_element(By.CSS_SELECTOR, f'#results [data-testid="cell-{row}-{column}"]').text

    for number, row in enumerate(batch.rows):
        assert cell(number, 0) == str(row.message.number)
        assert cell(number, 1) == row.prediction.label
        assert float(cell(number, 2)) == pytest.approx(row.prediction.spam_probability, abs=1e-4)
        assert cell(number, 3) == row.message.text
    link = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#download a[href]"))[0]
    assert link.get_attribute("href").endswith("/inbox-classified.csv")
    with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
        downloaded = pd.read_csv(io.BytesIO(response.read()), keep_default_na=False)
    assert list(downloaded["message"]) == [row.message.text for row in batch.rows]
    assert list(downloaded["label"]) == [row.prediction.label for row in batch.rows]
    screenshot(browser, screenshots, "app-many-messages.png")


def test_the_model_card_shows_the_recipe_the_accuracies_and_the_curves(browser, server, served, screenshots):
    open_tab(browser, server.url, "Model card")
    card = wait_for(browser, lambda b: "accuracy" in text_of(b, "card") and text_of(b, "card"))
    metrics = served.metrics
    assert f"test {metrics['test_accuracy']:.2%}" in card and f"train {metrics['train_accuracy']:.2%}" in card
    assert "position read" in card and "random weights" in card
    # Vega draws the loss curve into a canvas or an SVG once its data has arrived.
    curve = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#loss-curve .vega-embed svg.marks"))
    assert curve[0].size["width"] > 0 and curve[0].size["height"] > 0
    screenshot(browser, screenshots, "app-model-card.png")
