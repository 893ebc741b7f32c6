"""The docs' pictures (docs/images/, taken by ``make docs-images``: scripts/docs_images.py): each is there, a PNG of
the size the script takes (so a changed size without retaken pictures is seen), small enough to publish; the make
target runs the script; and a page holding a secret is never taken."""

import struct
import subprocess
from pathlib import Path

import pytest

from scripts import docs_images  # the repository is on the selftests' path; scripts/ a namespace package

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 400 * 1024  # the docs load each picture; a page's top at 1280 px is ~100-250 KB
MIN_BYTES = 20 * 1024  # a blank or error page compresses far below this


def png_size(data):
    """(width, height) from a PNG's header (its first chunk, IHDR); None if ``data`` is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", ["record.png", "history-index.png", "fleet-record.png"])
def test_each_picture_is_a_png_of_the_size_the_script_takes(name):
    path = REPO / "docs" / "images" / name
    assert path.is_file(), f"docs/images/{name} is missing: make docs-images takes it"
    data = path.read_bytes()
    size = png_size(data)
    assert size is not None, f"docs/images/{name} is not a PNG (starts with {data[:16]!r})"
    assert size == (docs_images.WIDTH, docs_images.HEIGHTS[name]), (
        f"docs/images/{name} is {size[0]}x{size[1]} px (required: {docs_images.WIDTH}x{docs_images.HEIGHTS[name]}, "
        "as scripts/docs_images.py takes it: retake with make docs-images)")
    assert MIN_BYTES <= len(data) <= MAX_BYTES, (
        f"docs/images/{name} is {len(data) / 1024:.0f} KB (required: {MIN_BYTES // 1024}-{MAX_BYTES // 1024} KB)")


def test_make_docs_images_runs_the_script():
    dry = subprocess.run(["make", "-n", "docs-images"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "scripts/docs_images.py" in dry.stdout, f"make -n docs-images does not run the script:\n{dry.stdout}"


def test_a_page_holding_a_secret_of_the_sandbox_is_refused(tmp_path):
    env = tmp_path / "deployment.env"
    env.write_text("ANTHROPIC_API_KEY=sk-ant-docs-0123456789abcdef\nJWT_KEY=a-jwt-key-longer-than-thirty-two-chars\n"
                   "DOMAIN=localhost\nASPNETCORE_ENVIRONMENT=Production\n")
    secrets = docs_images.secrets_of(env)
    assert secrets == ["sk-ant-docs-0123456789abcdef", "a-jwt-key-longer-than-thirty-two-chars"], secrets
    assert docs_images.leaks("DOMAIN localhost, Production, key sk-ant-***", secrets) == []
    assert docs_images.leaks("<td>JWT_KEY=a-jwt-key-longer-than-thirty-two-chars</td>", secrets) == ["a-jw..."]
    found = docs_images.leaks("a key sk-ant-api03-abcdefghijkl in a log line", secrets)
    assert found == ["Anthropic API key sk-ant-***"], found
