"""The documentation site (mkdocs.yml, docs/): it builds as `make docs` builds it, `mkdocs build --strict`, without
a single warning (a broken link or anchor, a page missing from the nav or a nav entry without its page), and its
home page takes a newcomer in one click to what issue 26 named: the production quickstart, how to silence one
check for a week, how to page Level 3, and what a results file field means."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from this checkout into a temporary folder (never the repository's site/): (folder, log)."""
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's notice about its end of life, not a finding
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                            str(REPO / "mkdocs.yml"), "--site-dir", str(folder)],
                           capture_output=True, text=True, timeout=240, env=env, cwd=REPO)
    return folder, built


def test_the_site_builds_strict_without_a_warning(site):
    folder, built = site
    log = built.stdout + built.stderr
    warnings = [line for line in log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert built.returncode == 0 and not warnings, (
        f"mkdocs build --strict exited {built.returncode} with {len(warnings)} warnings (required: 0 and none): "
        + "\n".join(warnings or log.splitlines()[-20:]))
    assert (folder / "index.html").is_file()


def section_text(page_html, anchor):
    """The text of the section whose heading has id ``anchor``, up to the next heading of its level or above."""
    heading = re.search(rf'<h([1-6])[^>]*\bid="{re.escape(anchor)}"', page_html)
    if heading is None:
        return None
    level = int(heading.group(1))
    rest = page_html[heading.end():]
    end = re.search(rf"<h[1-{level}][\s>]", rest)
    return html.unescape(re.sub(r"<[^>]+>", "", rest[:end.start() if end else None]))


# What the home page must reach in one click: (what a newcomer looks for, the link's target, what the section
# reached must say so that it answers the question; None: the page is another part's, held by its own test).
ONE_CLICK = [
    ("the production quickstart", "production/#quickstart", ("make install", ".venv/bin/pytest -m daily",
                                                             "systemctl enable")),
    ("how to silence one check for a week", "waivers/#silence-one-check-for-a-week", ("[[waiver]]", "expires",
                                                                                      "DIGITALME_WAIVERS")),
    ("how to page Level 3", "waivers/#level-3-emergency", ("DIGITALME_WEBHOOK_URL_EMERGENCY",
                                                           "DIGITALME_NOTIFY_EMERGENCY",
                                                           "DIGITALME_PAGERDUTY_ROUTING_KEY_EMERGENCY")),
    ("what a results file field means", "reference/results-file/", None),
]


@pytest.mark.parametrize("looking_for, target, says", ONE_CLICK, ids=[c[0] for c in ONE_CLICK])
def test_the_home_page_links_in_one_click_to(site, looking_for, target, says):
    folder, built = site
    assert built.returncode == 0, "the site did not build (see test_the_site_builds_strict_without_a_warning)"
    home = (folder / "index.html").read_text()
    main = home[home.index('<article'):home.index('</article>')]  # the page itself, not the navigation
    links = set(re.findall(r'<a [^>]*href="([^"]+)"', main))
    assert target in links, f"the home page's links are {sorted(links)} (required: one to {target}, {looking_for})"
    page, _, anchor = target.partition("#")
    page_file = folder / page / "index.html"
    assert page_file.is_file(), f"{target} is linked but {page_file.relative_to(folder)} was not built"
    if anchor:
        text = section_text(page_file.read_text(), anchor)
        assert text is not None, f"{page} has no heading with id {anchor!r}"
        missing = [word for word in says if word not in text]
        assert not missing, f"the section {target} lacks {missing} (required to answer {looking_for!r})"


def test_the_readme_stays_short_and_its_links_lead_somewhere():
    """README.md is the front door (issue 26: at most ~150 lines); each of its relative links (the docs pages, the
    record's picture) names a file of the repository, so a page moved or renamed does not leave it pointing nowhere."""
    readme = (REPO / "README.md").read_text()
    lines = len(readme.splitlines())
    assert lines <= 150, f"README.md has {lines} lines (required: at most 150; the rest belongs in docs/)"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    assert local, "README.md links to no docs page"
    gone = [t for t in local if not (REPO / t).exists()]
    assert not gone, f"README.md links to {gone}, which are not in the repository"
