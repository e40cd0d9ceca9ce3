"""The next-word page in a real browser: Debian's headless Chromium, driven by selenium.

Type a prompt, see the chips /v1/next gives, click one, see it inserted; type letters and see the
chips complete the word (prefix); run a completion and see /v1/generate's beam n-best; see each
word shaded by the probability /v1/score gives; then the same page on a phone-sized window. It
saves screenshots (to pytest's temporary folder, or to $WORDLM_SCREENSHOT, e.g. docs/serve.png).
Skipped, with the reason, where chromium or chromedriver is missing (`.ci/run` installs them).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOP = 8  # chips the page shows (static/app.js)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        missing = " and ".join(n for n, p in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not p)
        reason = f"browser test skipped: {missing} not found (apt-get install chromium chromium-driver)"
        print(reason)
        pytest.skip(reason)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - selenium is in the test extra
        pytest.skip("browser test skipped: selenium is not installed (pip install -e '.[test]')")
    profile = tempfile.mkdtemp(prefix="wordlm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1000,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def _chips(driver):
    """The words of the chips now shown (read in one go: the page replaces chips as it goes)."""
    return driver.execute_script("return [...document.querySelectorAll('#chips .chip')].map(c => c.dataset.word)")


def _expected_chips(served, prompt, prefix=None):
    body = {"prompt": prompt, "top": TOP + 2, **({"prefix": prefix} if prefix is not None else {})}
    words = [w["word"] for w in served.ok("/v1/next", body)["words"]]
    return [w for w in words if not (w.startswith("<") and w.endswith(">"))][:TOP]


def test_page_suggests_completes_and_shades(browser, served, tmp_path):
    driver = browser
    driver.get(served.url("/"))
    _wait(driver, lambda d: "sequence model" in d.find_element("id", "model").text, "the model's description")
    box = driver.find_element("id", "text")

    # type a prompt: the chips are /v1/next's words
    box.send_keys("jack and ")
    want = _expected_chips(served, "jack and ")
    _wait(driver, lambda d: _chips(d) == want, f"chips {want}")
    assert driver.find_element("id", "chips").get_attribute("data-mode") == "next"

    # click the first: it is inserted at the cursor, and the chips move on
    driver.find_elements("css selector", "#chips .chip")[0].click()
    assert box.get_attribute("value") == f"jack and {want[0]} "
    want2 = _expected_chips(served, f"jack and {want[0]} ")
    _wait(driver, lambda d: _chips(d) == want2, f"chips {want2}")

    # letters of a word: the chips complete it (prefix), and clicking replaces the letters
    box.send_keys("w")
    prompt = f"jack and {want[0]} "
    completing = _expected_chips(served, prompt, "w")
    assert completing and all(w.startswith("w") for w in completing)
    _wait(driver, lambda d: _chips(d) == completing and
          d.find_element("id", "chips").get_attribute("data-mode") == "complete", f"completions {completing}")
    driver.find_elements("css selector", "#chips .chip")[0].click()
    sentence = f"{prompt}{completing[0]} "
    assert box.get_attribute("value") == sentence

    # the sentence's score: one shaded token per scored token, with /v1/score's numbers
    score = served.ok("/v1/score", {"text": sentence, "per_token": True})

    def shaded(d):  # read in one go: the page may redraw the sentence while the test looks at it
        spans = d.execute_script("return [...document.querySelectorAll('#shaded .tok')].map(s => "
                                 "[s.dataset.logprob, getComputedStyle(s).backgroundColor])")
        # (until the page has drawn the sentence as it is now: the one before it, "… w", has as
        # many tokens, and its answer may still be on the page)
        same = len(spans) == len(score["tokens"]) and all(
            math.isclose(float(logprob), token["logprob"], abs_tol=1e-5)
            for (logprob, _), token in zip(spans, score["tokens"]))
        return same and spans

    spans = _wait(driver, shaded, "the shaded sentence, with /v1/score's numbers")
    for _, colour in spans:
        assert colour not in ("", "rgba(0, 0, 0, 0)")
    colours = {colour for _, colour in spans}
    assert len(colours) > 1  # likelier words are shaded differently
    figures = driver.find_element("id", "figures").text
    assert f"ln p = {score['logprob']:.3f}" in figures, figures
    shown_ppl = float(figures.split("perplexity ")[1].split()[0])
    assert math.isclose(shown_ppl, score["ppl"], rel_tol=1e-3), figures

    # complete: the beam's n best, as /v1/generate gives them
    driver.find_element("id", "complete").click()
    beam = served.ok("/v1/generate", {"prompt": sentence.strip(), "strategy": "beam", "beam_size": 8, "num": 5,
                                      "max_words": 12})["hypotheses"]
    _wait(driver, lambda d: len(d.find_elements("css selector", "#completions .completion")) == len(beam),
          "the completions")
    shown = driver.find_elements("css selector", "#completions .completion")
    for item, h in zip(shown, beam):
        assert h["continuation"] in item.text
        assert math.isclose(float(item.get_attribute("data-logprob")), h["logprob"], abs_tol=1e-6)
    assert driver.find_element("id", "error").text == ""
    _screenshot(driver, tmp_path / "serve.png", os.environ.get("WORDLM_SCREENSHOT"))

    # click a completion: it becomes the text
    assert all(i.find_element("tag name", "small").text.startswith("continuation ln p") for i in shown)
    assert driver.find_element("id", "figures").text.startswith("sentence ln p")  # two labels, two quantities
    shown[0].click()
    assert box.get_attribute("value").strip() == f"{sentence.strip()} {beam[0]['continuation']}".strip()
    assert driver.find_elements("css selector", "#completions .completion") == []  # the old list is gone

    # a phone-sized window: nothing wider than the screen, the chips still there to tap
    driver.set_window_size(390, 844)
    box.send_keys(" ")
    _wait(driver, lambda d: len(_chips(d)) > 0, "chips on a phone")
    width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is wider than a phone's screen: {width}"
    height = driver.execute_script("return document.querySelector('#chips .chip').getBoundingClientRect().height")
    assert height >= 40  # a touch target
    phone = os.environ.get("WORDLM_SCREENSHOT")
    _screenshot(driver, tmp_path / "serve-phone.png", phone and str(Path(phone).with_name("serve-phone.png")))
    driver.set_window_size(1000, 1000)


def _screenshot(driver, path: Path, also: str | None) -> None:
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    if also:
        shutil.copy(path, also)
        print(f"screenshot: {also}")
