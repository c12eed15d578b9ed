"""The built smoke-profile book in a real browser (Debian's chromium, driven by Playwright).

The HTML of ``built_book`` (tests/conftest.py: one smoke build per session) is served on localhost;
every page of ``_toc.yml`` must load with status 200, decode every image, show no error output or
traceback, raise no JavaScript error, and link only to pages and anchors that exist. The search page
must find a known chapter for a known word, and notebook pages must offer launch and download
buttons. Screenshots of the landing page and of an experiment page (light and dark) are written to
``_build/test-artifacts/``.

Requests that leave localhost (Binder, Colab) are blocked: the tests need no network. MathJax is
served by the book itself (the build copies it from the django-static-mathjax wheel into
``_static/mathjax``), so formulas must render here; a test checks that they do. Typing an equation's
name into the search box must find the generated Equations page.
When ``/usr/bin/chromium`` is missing it is installed with ``apt-get`` (needs root); otherwise the
tests are skipped with the command that installs it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from learning_rules import book

pytestmark = [pytest.mark.slow, pytest.mark.book, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "_build" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXPERIMENT_PAGE = "book/datasets"  # a notebook page with figures and tables
SEARCH_WORD, SEARCH_HIT = "checksum", "book/datasets.html"  # the datasets chapter explains checksums
# Known, harmless theme error: sphinx-thebe adds its `const THEBE_JS_URL = ...` config script on every
# read phase, and sphinxcontrib-bibtex asks Sphinx for a second one, so the script appears twice and
# the second copy throws. Thebe is off in this book (launch_buttons.thebe: false). Any other error fails.
KNOWN_JS_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)


def _ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing; install Debian's browser with: sudo apt-get install -y chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


@pytest.fixture(scope="session")
def site(built_book):
    """Base URL of the built HTML, served by http.server in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is missing: pip install -e '.[test]'"
    )
    executable = _ensure_chromium()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _new_page(chromium, site, **context_args):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, **context_args)
    host = urlparse(site).netloc

    def only_local(route):
        if urlparse(route.request.url).netloc == host:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: None if str(exc) in KNOWN_JS_ERRORS else page.js_errors.append(str(exc)))
    return context, page


@pytest.fixture
def browser_page(chromium, site):
    context, page = _new_page(chromium, site)
    yield page
    context.close()


def toc_urls(site: str) -> dict[str, str]:
    return {p.with_suffix("").as_posix(): urljoin(site, p.with_suffix(".html").as_posix())
            for p in book.toc_files(ROOT)}


IMAGES_JS = """() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
    complete: i.complete, width: i.naturalWidth}))"""
LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
IDS_JS = "() => Array.from(document.querySelectorAll('[id]')).map(e => e.id)"


@pytest.fixture(scope="module")
def crawled(chromium, site):
    """Visit every toc page once: status, images, errors, links and anchors of each."""
    context, page = _new_page(chromium, site)
    visited = {}
    try:
        for name, url in toc_urls(site).items():
            page.js_errors.clear()
            response = page.goto(url, wait_until="load")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
            main = page.locator("main").first
            visited[name] = {
                "url": url,
                "status": None if response is None else response.status,
                "images": page.evaluate(IMAGES_JS),
                "links": page.evaluate(LINKS_JS),
                "ids": set(page.evaluate(IDS_JS)),
                "text": main.inner_text() if main.count() else page.inner_text("body"),
                "error_outputs": page.locator(".cell_output .output.error, .output.traceback, "
                                              "div.output.stderr").count(),
                "js_errors": list(page.js_errors),
                "launch": page.locator(".dropdown-launch-buttons a").evaluate_all(
                    "els => els.map(e => e.href)"),
                "download": page.locator(".dropdown-download-buttons .dropdown-item").evaluate_all(
                    "els => els.map(e => e.getAttribute('href') || e.getAttribute('onclick') || '')"),
            }
    finally:
        context.close()
    return visited


def test_every_toc_page_loads(crawled):
    assert crawled, "no page in _toc.yml"
    for name, info in crawled.items():
        assert info["status"] == 200, f"{name}: HTTP {info['status']}"
        assert info["text"].strip(), f"{name}: empty page"
        assert info["js_errors"] == [], f"{name}: JavaScript errors {info['js_errors']}"


def test_every_image_decodes(crawled):
    for name, info in crawled.items():
        broken = [i["src"] for i in info["images"] if not i["complete"] or i["width"] == 0]
        assert not broken, f"{name}: images that do not decode: {broken}"
    figures = [i for i in crawled[EXPERIMENT_PAGE]["images"] if "_images/" in i["src"]]
    assert len(figures) >= 2, "the experiment page should show its figures"


def test_no_error_output_or_traceback(crawled):
    for name, info in crawled.items():
        assert info["error_outputs"] == 0, f"{name} shows an error output"
        for marker in ("Traceback (most recent call last)", "Error in callback"):
            assert marker not in info["text"], f"{name} shows {marker!r}"


def test_no_unrendered_myst_role(crawled):
    """A role such as {eq} written into a notebook's Markdown *output* is not parsed: it would show."""
    import re

    role = re.compile(r"\{(eq|cite|ref|numref|doc|term|math|cite:p|cite:t)\}")
    for name, info in crawled.items():
        found = role.findall(info["text"])
        assert not found, f"{name} shows unrendered MyST role(s) {sorted(set(found))}"


def test_internal_links_resolve(crawled, chromium, site):
    host = urlparse(site).netloc
    context, page = _new_page(chromium, site)
    checked: dict[str, int] = {}
    ids_of = {info["url"]: info["ids"] for info in crawled.values()}
    problems = []
    try:
        for name, info in crawled.items():
            for link in info["links"]:
                if urlparse(link).netloc != host:
                    continue
                target, fragment = urldefrag(link)
                if target not in checked:
                    checked[target] = context.request.get(target).status
                if checked[target] != 200:
                    problems.append(f"{name}: {link} -> HTTP {checked[target]}")
                elif fragment and target in ids_of and fragment not in ids_of[target]:
                    problems.append(f"{name}: {link} -> no element with id {fragment!r}")
    finally:
        context.close()
    assert len(checked) > len(crawled), "expected links between the pages"
    assert not problems, "\n".join(problems[:30])


def test_launch_and_download_buttons(crawled):
    notebooks = [p.with_suffix("").as_posix() for p in book.toc_notebooks(ROOT)]
    assert notebooks
    for name in notebooks:
        launch = crawled[name]["launch"]
        assert any("mybinder.org" in h for h in launch), f"{name}: no Binder button ({launch})"
        assert any("colab.research.google.com" in h for h in launch), f"{name}: no Colab button"
        download = crawled[name]["download"]
        assert any(h.endswith(f"{Path(name).name}.ipynb") for h in download), \
            f"{name}: no .ipynb download ({download})"
        assert any("print" in h for h in download), f"{name}: no PDF (print) download"
    for name, info in crawled.items():
        assert info["download"], f"{name}: no download button"


def test_search_finds_a_known_chapter(browser_page, site):
    page = browser_page
    page.goto(urljoin(site, f"search.html?q={SEARCH_WORD}"), wait_until="load")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    hrefs = results.evaluate_all("els => els.map(e => e.href)")
    assert any(SEARCH_HIT in h for h in hrefs), f"searching {SEARCH_WORD!r} found {hrefs}"


def test_search_box_submits(browser_page, site):
    """Typing into the page's search field (not only the URL) reaches the results page."""
    assert _search_from_box(browser_page, site, SEARCH_WORD)


def _search_from_box(page, site, words):
    page.goto(urljoin(site, "book/intro.html"), wait_until="load")
    page.keyboard.press("Control+k")
    field = page.locator("input[name='q']:visible").first
    field.wait_for(timeout=5_000)
    field.fill(words)
    field.press("Enter")
    page.wait_for_url("**/search.html?q=*", timeout=10_000)
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    return results.evaluate_all("els => els.map(e => e.href)")


def test_search_finds_an_equation_by_name(browser_page, site):
    entries = book.equation_index(ROOT)
    named = [e for e in entries if e["name"] != e["label"].replace("-", " ")] or entries
    assert named, "the book has no labelled equation"
    entry = named[-1]
    hrefs = _search_from_box(browser_page, site, entry["name"])
    assert any("book/equations.html" in h for h in hrefs), f"searching {entry['name']!r} found {hrefs}"
    # The index entry links to the equation itself.
    browser_page.goto(urljoin(site, "book/equations.html"), wait_until="load")
    target = browser_page.locator(f"a[href*='#equation-{entry['label']}']")
    assert target.count() >= 1, f"no link to equation {entry['label']} on the Equations page"


def test_math_renders_offline(browser_page, site):
    page = browser_page
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(urljoin(site, "book/intro.html"), wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0",
                           timeout=20_000)
    assert page.locator("mjx-container[display='true']").count() >= 1  # the labelled display equation
    assert any("/_static/mathjax/" in u for u in requests), "MathJax should come from the book"
    assert page.locator("mjx-merror").count() == 0, "a formula failed to typeset"


def test_screenshots_light_and_dark(chromium, site):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {}
    for scheme in ("light", "dark"):
        context, page = _new_page(chromium, site, color_scheme=scheme)
        try:
            page.goto(urljoin(site, "book/intro.html"), wait_until="load")
            if scheme == "light":
                page.screenshot(path=str(ARTIFACTS / "landing.png"), full_page=False)
                shots["landing"] = ARTIFACTS / "landing.png"
            page.goto(urljoin(site, f"{EXPERIMENT_PAGE}.html"), wait_until="load")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
            theme = page.evaluate("() => document.documentElement.dataset.theme")
            assert theme == scheme, f"prefers-color-scheme {scheme} gave theme {theme!r}"
            figure = page.locator(".cell_output img").first
            figure.scroll_into_view_if_needed()
            background = figure.evaluate("e => getComputedStyle(e).backgroundColor")
            if scheme == "dark":  # custom.css backs figures with white so their dark ink stays legible
                assert background == "rgb(255, 255, 255)", background
            path = ARTIFACTS / f"experiment-{scheme}.png"
            page.screenshot(path=str(path), full_page=False)
            shots[f"experiment-{scheme}"] = path
        finally:
            context.close()
    for name, path in shots.items():
        assert path.is_file() and path.stat().st_size > 10_000, f"screenshot {name} is empty"


def test_every_page_says_it_is_a_smoke_build(crawled, chromium, site):
    """The smoke book is a preview: every page carries the site-wide announcement, and every
    notebook page the banner listing what its profile cuts (both injected by the build)."""
    notebooks = {nb.with_suffix("").as_posix() for nb in book.toc_notebooks(ROOT)}
    context, page = _new_page(chromium, site)
    try:
        for name, info in crawled.items():
            page.goto(info["url"], wait_until="load")
            announcement = page.locator(".bd-header-announcement").inner_text()
            assert "smoke" in announcement and "not the papers'" in announcement, name
            if name in notebooks:
                assert "Built with the smoke profile" in info["text"], f"{name}: no profile banner"
    finally:
        context.close()
