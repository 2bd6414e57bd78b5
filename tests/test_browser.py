"""The chat in a real browser: headless Chromium (Debian's package) driven by Playwright."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium (see .ci/run); the browser tests cannot run")
    pytest.skip("no system Chromium: `apt-get install chromium` to run the browser tests", allow_module_level=True)


@pytest.fixture(scope="module")
def browser_folder(tmp_path_factory):
    """The folder of the chat the page tests use: its articles in docs/, its data dir in data/."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def page_url(browser_folder):
    from conftest import launched_chat, make_app

    data = browser_folder
    docs = data / "docs"
    docs.mkdir()
    (docs / "evil.txt").write_text(
        "Injected page\n\nThe zeppelin museum says: <img src=x onerror=\"window.__pwned=1\"> and "
        "<script>window.__pwned=2</script> are shown as text.\n",
        encoding="utf-8",
    )
    app = make_app(data / "data")
    app.ingest(progress=False)
    app.ingest([docs], progress=False)
    with launched_chat(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


def ask_in_page(browser, url: str, question: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url)
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    page.locator("#sources .source").first.wait_for(timeout=30000)
    return page


@pytest.mark.parametrize("lang, question, expected, source", [
    ("en", "Which Berkeley professor helped develop Vicuna?", "Ion Stoica", "001_60e2eac473953ea2.txt"),
    ("zh", "伯克利的哪位计算机教授参与开发了Vicuna？", "Ion Stoica", "001_60e2eac473953ea2.txt"),
    ("fr", "Quand Meta a-t-il publié Llama ?", "En mars de cette année", "004_ffe0c9b88f98e370.txt"),
])
def test_question_in_the_page_shows_answer_and_sources(browser, page_url, lang, question, expected, source):
    page = ask_in_page(browser, page_url, question)
    assert expected in page.locator("#chat").inner_text()
    sources = page.locator("#sources").inner_text()
    assert source in sources and "chars" in sources
    assert page.locator("#sources mark").count() >= 1
    assert page.locator('#chat a[href^="#a1-source-"]').count() >= 1, "markers link to their sources"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"chat-{lang}.png"), full_page=True)
    page.close()


def test_injected_markup_in_a_document_does_not_run(browser, page_url):
    page = ask_in_page(browser, page_url, "What does the zeppelin museum say?")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert '<img src=x onerror="window.__pwned=1">' in page.locator("#sources").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-injected-markup.png"), full_page=True)
    page.close()


def test_upload_from_the_page_adds_a_document(browser, page_url, tmp_path):
    note = tmp_path / "airship.md"
    note.write_text("# Airships\n\nThe Hindenburg airship burned at Lakehurst in May 1937.\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(page_url)
    page.get_by_text("Add documents").click()
    page.locator("input[type=file]").set_input_files(str(note))
    page.get_by_role("button", name="Add to the index").click()
    page.get_by_text("Added 1, updated 0, unchanged 0, failed 0").wait_for(timeout=30000)
    page.close()
    page = ask_in_page(browser, page_url, "When did the Hindenburg burn?")
    assert "May 1937" in page.locator("#chat").inner_text()
    assert "airship.md" in page.locator("#sources").inner_text()
    page.close()


def test_an_upload_that_fails_says_so_in_one_message_and_the_chat_goes_on(browser, page_url, browser_folder,
                                                                          tmp_path):
    note = tmp_path / "blimp.md"
    note.write_text("# Blimps\n\nThe Goodyear blimp first flew in 1925.\n", encoding="utf-8")
    # A file where the upload's own folder (named by its content) must go: the copy cannot be kept.
    blocker = browser_folder / "data" / "uploads" / hashlib.sha256(note.read_bytes()).hexdigest()[:12]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way", encoding="utf-8")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(page_url)
        page.get_by_text("Add documents").click()
        page.locator("input[type=file]").set_input_files(str(note))
        page.get_by_role("button", name="Add to the index").click()
        page.get_by_text("Sorry, something went wrong while adding the files. Please try again.").wait_for(
            timeout=30000)
        assert "File exists" not in page.content(), "the error's own text stays in the server's log"
        page.close()
    finally:
        blocker.unlink()
    page = ask_in_page(browser, page_url, "What does the zeppelin museum say?")
    assert "zeppelin" in page.locator("#chat").inner_text().lower()
    page.close()


def test_a_second_upload_of_the_same_name_keeps_the_first(browser, page_url, tmp_path):
    notes = []
    for user, fact in (("ana", "The Graf Zeppelin flew around the world in 1929."),
                       ("ben", "The airship Norge flew over the North Pole in 1926.")):
        (tmp_path / user).mkdir()
        notes.append(tmp_path / user / "notes.txt")
        notes[-1].write_text(f"Airships\n\n{fact}\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(page_url)
    page.get_by_text("Add documents").click()
    for note in notes:
        page.locator("input[type=file]").set_input_files(str(note))  # as another user would, alone
        page.get_by_role("button", name="Add to the index").click()
        digest = hashlib.sha256(note.read_bytes()).hexdigest()[:12]
        page.get_by_text(f"uploads/{digest}/notes.txt").wait_for(timeout=30000)
    page.close()
    for question, fact in (("When did the Graf Zeppelin fly around the world?", "1929"),
                           ("When did the Norge fly over the North Pole?", "1926")):
        page = ask_in_page(browser, page_url, question)
        assert fact in page.locator("#chat").inner_text(), "neither upload replaced the other"
        page.close()


def ask_again(page, question: str, turn: int) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    page.locator(f"#chat #a{turn}-source-1").wait_for(state="attached", timeout=30000)


def test_each_answer_keeps_its_own_sources_and_a_failed_turn_keeps_the_conversation(browser, page_url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(page_url)
    ask_again(page, "Which Berkeley professor helped develop Vicuna?", 1)
    ask_again(page, "What does the zeppelin museum say?", 2)
    ask_again(page, "Which university created the Chatbot Arena ranking?", 3)
    first_source = page.locator("#chat #a1-source-1 > summary").inner_text()
    assert first_source != page.locator("#chat #a3-source-1 > summary").inner_text()
    page.locator('#chat a[href="#a1-source-1"]').first.click()
    assert page.evaluate("location.hash") == "#a1-source-1"
    page.wait_for_timeout(300)
    card = page.locator("#chat #a1-source-1")
    # Where the chat scrolls to is gradio's (it may follow the latest message): the link's target is what counts.
    assert card.is_visible(), "the first answer's own source 1 is shown"
    card.locator("> summary").click()
    assert "Ion Stoica" in card.inner_text()

    page.locator("#question textarea").fill("x" * 2100)  # too long: the user's to fix
    page.locator("#ask").click()
    page.get_by_text("the limit is 2000").wait_for(timeout=30000)
    chat = page.locator("#chat")
    assert chat.locator(".answer-sources").count() == 3, "the earlier answers keep their sources"
    assert "Ion Stoica" in chat.inner_text() and "zeppelin" in chat.inner_text()
    assert page.locator(".toast-body, .toast-wrap .error").count() == 0, "no error badge covers the page"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-three-answers-and-a-failed-turn.png"), full_page=True)
    page.close()


def test_stop_ends_an_answer_or_its_translations_under_way_and_the_chat_goes_on(browser, page_url, browser_folder):
    import socket

    from conftest import launched_chat, make_app

    # A local model that never replies (a socket that listens and says nothing) keeps an answer
    # waiting until its timeout: then the answer quotes the passages.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    app = make_app(browser_folder / "data", CORPUS_QA_LLM_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
                   CORPUS_QA_LLM_TIMEOUT="4")
    try:
        with launched_chat(app) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.locator("#question textarea").fill("Which Berkeley professor helped develop Vicuna?")
            page.locator("#ask").click()
            page.locator("#stop").click(timeout=30000)
            page.get_by_text("Stopped.").wait_for(timeout=30000)
            assert page.locator("#ask").is_visible() and not page.locator("#stop").is_visible()
            assert page.locator("#question textarea").input_value().startswith("Which Berkeley"), "kept, to ask again"
            assert page.locator(".toast-body, .toast-wrap .error").count() == 0, "no error badge covers the page"
            # In French, left to run: the answer quotes the English article, and its translation waits.
            page.locator("#question textarea").fill("Quel professeur de Berkeley a aidé à développer Vicuna ?")
            page.locator("#ask").click()
            page.get_by_text("translating…").wait_for(timeout=60000)
            assert "Ion Stoica" in page.locator("#chat").inner_text() and page.get_by_text("Stopped.").count() == 1
            page.locator("#stop").click()
            page.get_by_text("translations stopped").wait_for(timeout=30000)
            assert page.locator("#ask").is_visible() and "Ion Stoica" in page.locator("#chat").inner_text()
            # Starting over during an answer ends it too: nothing comes back into the emptied chat.
            page.locator("#question textarea").fill("Which Berkeley professor helped develop Vicuna?")
            page.locator("#ask").click()
            page.locator("#stop").wait_for(timeout=30000)
            page.locator("#clear").click()
            page.wait_for_timeout(6000)  # past the model's timeout, when the answer would have come
            assert "Vicuna" not in page.locator("#chat").inner_text() and page.locator("#ask").is_visible()
            page.close()
    finally:
        silent.close()
