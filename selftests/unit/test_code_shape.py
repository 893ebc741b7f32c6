"""plugins/ keeps the shape issue 24 gave it (scripts/code_shape.py): modules of at most 300 lines, functions of at
most 50, no import circle, not even one dodged by an import inside a function."""

import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "code_shape.py"


@pytest.fixture(scope="module")
def code_shape():
    spec = importlib.util.spec_from_file_location("code_shape", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_module_and_function_is_within_its_limit(code_shape):
    known = code_shape.modules()
    breaches = [b for path in known.values() for b in code_shape.too_long(path)]
    assert not breaches, "\n".join(breaches)


def test_no_import_circle(code_shape):
    circles = code_shape.circles(code_shape.modules())
    assert not circles, "\n".join(circles)


def test_the_checker_sees_a_circle_dodged_inside_a_function(code_shape, tmp_path, monkeypatch):
    """The checker itself: a circle whose second import sits inside a function is still found."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from plugins import b\n")
    (package / "b.py").write_text("def later():\n    from plugins.a import x\n")
    monkeypatch.setattr(code_shape, "REPO", tmp_path)
    assert code_shape.circles(code_shape.modules(package)) == ["plugins.a -> plugins.b -> plugins.a"]
