#!/usr/bin/env python3
"""Write the reference pages of what others consume from the schemas' own descriptions (docs/schemas/), so a page
never says other than the schema every results file and payload of the selftests is held to
(selftests/schema_check.py):

    docs/schemas/results.schema.json  ->  docs/reference/results-file.md
    docs/schemas/alert.schema.json    ->  docs/reference/alert-payload.md

    scripts/docs_schemas.py           write both pages
    scripts/docs_schemas.py --check   write nothing; exit 1 naming each page that differs from what the schemas make
Guarded byte for byte by selftests/unit/test_schema_pages.py. A page: the schema's title and description, a link
to the raw schema, its version and what bumps it (the ``schema_version`` field's description), a table of the
document's fields, one table per object it holds (each ``$defs`` entry with properties, under its title), and the
kinds of message a payload may be (its ``oneOf``).
"""

import json
import pathlib
import re
import sys
import unicodedata

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from docs_markdown import cell, diff_of  # noqa: E402  (one cell for every generated page: code spans with | too)
FOLDER = "docs/schemas"  # where the schema files are, in the repository and on the site
SCHEMAS = REPO / FOLDER
PAGES = {"results.schema.json": REPO / "docs" / "reference" / "results-file.md",
         "alert.schema.json": REPO / "docs" / "reference" / "alert-payload.md"}
VERSION_FIELD = "schema_version"
EXAMPLES = {"results.schema.json": "reports/latest.json", "alert.schema.json": "payload.json"}  # what one validates
VALIDATING = """
With Python's `jsonschema`, the schema files in `{folder}`:

```python
import json, pathlib
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

schemas = pathlib.Path("{folder}")
registry = Registry().with_resources((path.name, Resource.from_contents(json.loads(path.read_text())))
                                     for path in schemas.glob("*.schema.json"))
schema = json.loads((schemas / "{schema}").read_text())
document = json.loads(pathlib.Path("{example}").read_text())
Draft202012Validator(schema, registry=registry).validate(document)  # raises ValidationError
```
"""


def slug(title):
    """The heading's id as MkDocs (Python-Markdown's toc) makes it: ``Alert record`` -> ``alert-record``."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


class Page:
    """One schema, rendered: ``render()`` is the page's text."""

    def __init__(self, name, schema):
        self.name, self.schema = name, schema
        self.defs = schema.get("$defs", {})
        self.sections = {}  # def name -> the fields that hold it ("checks[]"), in the order first met

    def resolve(self, node):
        """A node with its local ``$ref`` followed (its own description kept)."""
        ref = node.get("$ref", "")
        return dict(self.defs[ref.rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}) \
            if ref.startswith("#/$defs/") else node

    def is_section(self, ref):
        return ref.startswith("#/$defs/") and "properties" in self.defs[ref.rsplit("/", 1)[1]]

    def type_of(self, node, where):
        """The field's type in words (a link to the section of an object it holds)."""
        if "const" in node:
            return f"`{json.dumps(node['const'])}`"
        if "enum" in node:  # kinds as a reader compares them: `ok`; the empty text as `""`
            return " or ".join(f"`{value}`" if value and isinstance(value, str) else f"`{json.dumps(value)}`"
                               for value in node["enum"])
        ref = node.get("$ref", "")
        if ref and not ref.startswith("#"):
            page = PAGES[ref.split("#")[0]].name
            return f"object: the [alert payload]({page})"
        if self.is_section(ref):
            name = ref.rsplit("/", 1)[1]
            self.sections.setdefault(name, []).append(where)
            return f"object: [{self.defs[name]['title']}](#{slug(self.defs[name]['title'])})"
        if ref:
            return self.type_of(self.defs[ref.rsplit("/", 1)[1]], where)
        if "oneOf" in node and "properties" not in node:
            return " or ".join(self.type_of(option, where) for option in node["oneOf"])
        return self.plain_type(node, where)

    def plain_type(self, node, where):
        kinds = node.get("type")
        if kinds is None:
            return "any JSON value"
        kinds = kinds if isinstance(kinds, list) else [kinds]
        words = []
        for kind in kinds:
            if kind == "array":
                words.append("array of " + self.type_of(node.get("items", {}), where + "[]"))
            elif kind == "object":
                values = node.get("additionalProperties")
                words.append("object: name to " + self.type_of(values, where + ".*") if isinstance(values, dict)
                             else "object")
            else:
                words.append(kind + (f" ({node['format']})" if "format" in node and kind == "string" else "")
                             + (f" ≥ {node['minimum']}" if "minimum" in node and kind in ("integer", "number")
                                else ""))
        return " or ".join(words)

    def table(self, node, prefix):
        """The fields of an object, one row each."""
        required = set(node.get("required", ()))
        rows = ["| Field | Type | Always there | Description |", "|---|---|---|---|"]
        for field, spec in node.get("properties", {}).items():
            where = f"{prefix}{field}"
            described = spec.get("description") or self.resolve(spec).get("description", "")
            if field == VERSION_FIELD:
                described = "The version of this shape: see [Versions](#versions)."
            rows.append(f"| `{field}` | {cell(self.type_of(spec, where))} | {'yes' if field in required else 'no'} "
                        f"| {cell(described)} |")
        return rows

    def section(self, name):
        node = self.defs[name]
        held = ", ".join(f"`{where}`" for where in self.sections[name])
        prefix = self.sections[name][0] + "."  # where the objects it holds are
        return ["", f"## {node['title']}", "", f"{node['description']} In {held}.", "", *self.table(node, prefix)]

    def validating(self):
        """How a consumer validates a document, with the schema files side by side (they refer to each other by
        name: the registry resolves those names)."""
        return ["", "## Validating", "", VALIDATING.format(folder=FOLDER, schema=self.name,
                                                      example=EXAMPLES[self.name]).strip()]

    def variants(self):
        """The kinds of document (``oneOf``), each under its title."""
        lines = []
        for option in self.schema.get("oneOf", ()):
            node = self.resolve(option)
            lines += ["", f"### {node['title']}", "", node["description"]]
        return ["", "## Kinds of message", *lines] if lines else []

    def render(self):
        schema = self.schema
        version = schema["properties"][VERSION_FIELD]
        fields = self.table(schema, "")
        lines = [f"<!-- Generated by scripts/docs_schemas.py from docs/schemas/{self.name}: edit the schema's "
                 "descriptions, then run it. -->", "", f"# {schema['title']}", "", schema["description"], "",
                 f"The schema: [`{self.name}`](../schemas/{self.name}) (JSON Schema, draft 2020-12). Every "
                 f"{schema['title'].lower()} the suite's selftests produce is validated against it. It refers to the "
                 "other schema file by its name: keep the two side by side.", *self.variants(),
                 "", "## Versions", "", f"This page describes version `{version['const']}`. {version['description']}",
                 "", "## Fields", "", *fields]
        lines += self.validating()
        done = set()
        while len(done) < len(self.sections):  # the objects met so far, then those they hold
            name = next(n for n in self.sections if n not in done)
            lines += self.section(name)
            done.add(name)
        return "\n".join(lines) + "\n"


def pages():
    """{page path: its text} of every schema."""
    return {page: Page(name, json.loads((SCHEMAS / name).read_text())).render() for name, page in PAGES.items()}


def main(argv):
    differing = []
    for path, text in pages().items():
        if "--check" in argv:
            diff = diff_of(path.relative_to(REPO), path.read_text() if path.exists() else None, text)
            if diff:
                sys.stdout.write(diff)
                differing.append(str(path.relative_to(REPO)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if differing:
        print(f"not what the schemas make: {', '.join(differing)}; run scripts/docs_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
