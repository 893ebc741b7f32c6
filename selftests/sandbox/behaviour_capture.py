"""What the behaviour snapshots compare of a run of the suite (selftests/sandbox/test_behaviour_unchanged.py), and the
comparison: the outputs read from the outside (files, terminal, a webhook receiver), each normalised so that two
runs of unchanged code capture the same, and a diff of each part that differs from its snapshot.

Nothing here imports the suite's plugins: it reads what a run leaves, as an operator would.
"""

import difflib
import hashlib
import hmac
import html
import http.server
import json
import os
import re
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

import schema_check

SNAPSHOTS = Path(__file__).with_name("snapshots") / "behaviour"
# The repository: the folder of the suite's conftest.py and plugins/ (found, not counted: this file may move).
REPO = next(p for p in Path(__file__).resolve().parents if (p / "plugins").is_dir() and (p / "conftest.py").exists())
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


# --- what a webhook receiver on 127.0.0.1 is sent ----------------------------------------------------------------
# Its own, small: the selftests' modules are being moved too, and this one must not depend on where they go.

class Receiver:
    """Records every request (method, path, whether the body's signature by ``secret`` is valid, the JSON body);
    answers 200."""

    def __init__(self, secret):
        self.requests, self.secret = [], secret
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                requests.append({"method": self.command, "path": self.path, "body": body,
                                 "signature": self.headers.get("X-DigitalMe-Signature")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def literals(self):
        return {f"127.0.0.1:{self.port}": "127.0.0.1:<receiver-port>"}

    def take(self):
        """The requests received since the last take, each as comparable data (alerts sorted: sent in parallel
        or not, their order is not a promise)."""
        taken, self.requests[:] = list(self.requests), []
        pings = [f"{r['method']} {r['path']}" for r in taken if not r["body"]]
        alerts = sorted((self.alert_of(r, self.secret) for r in taken if r["body"]),
                        key=lambda alert: json.dumps(alert, sort_keys=True))
        return {"alerts": alerts, "heartbeat": pings}

    @staticmethod
    def alert_of(request, secret):
        problem = schema_check.payload_problem(request["method"], request["path"], request["body"])
        if problem:  # every payload a receiver gets is held to the published schema (selftests/schema_check.py)
            raise schema_check.SchemaMismatch(problem)
        expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
        signed = "valid" if request["signature"] == expected else f"not valid: {request['signature']}"
        return {"request": f"{request['method']} {request['path']}", "signature": signed,
                "payload": json.loads(request["body"])}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- normalisation: what varies from run to run becomes a placeholder --------------------------------------------

TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d| UTC)?"
PATTERNS = [  # (regex, placeholder), in this order
    (re.compile(r"\b\d{8}T\d{6}Z\b"), "<stamp>"),  # a run's UTC stamp, in file names
    (re.compile(TIME), "<time>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), "<date>"),
    (re.compile(r"\d\d-[A-Z][a-z]{2}-\d{4} at \d\d:\d\d:\d\d"), "<time>"),  # pytest-html's "07-Dec-2026 at ..."
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\bdmselftest\d+"), "<sandbox-project>"),  # the session sandbox's compose project
    (re.compile(r"(127\.0\.0\.1|localhost):\d{2,5}\b"), r"\1:<port>"),
    (re.compile(r"\b(in|took) ([\d.]+ ?(s|ms|seconds)|\d\d:\d\d:\d\d)\b"), r"\1 <duration>"),  # pytest's, pytest-html's
    (re.compile(r"(\.py):\d+:"), r"\1:<line>:"),  # a skip's place in its check's file (pytest -ra)
    (re.compile(r"\bplugins/[\w/.]*\w"), "plugins/<module>"),  # a text naming the module it comes from: they move
]


# Prometheus series that are times of the run: their values always vary.
RUN_TIMES = ("digitalme_run_timestamp_seconds", "digitalme_run_duration_seconds")


class Normaliser:
    """Strings with their run-specific parts replaced: ``literals`` first (this run's folders and ports, {text:
    placeholder}, longest first), then PATTERNS. ``volatile``: names of checks whose measured value varies run to
    run (only its shape is kept); ``evidence``: "full", or "names" to keep only the names of each check's evidence
    (what a live system shows); ``measured_series``: Prometheus series, besides the run's times, whose values vary."""

    def __init__(self, literals, volatile=(), evidence="full", measured_series=()):
        literals = {REPO: "<repo>", **literals}
        self.literals = sorted(((str(text), name) for text, name in literals.items()), key=lambda f: -len(f[0]))
        self.volatile, self.evidence = set(volatile), evidence
        self.measured_series = {*RUN_TIMES, *measured_series}

    def text(self, value):
        for literal, name in self.literals:
            value = value.replace(literal, name)
        for pattern, placeholder in PATTERNS:
            value = pattern.sub(placeholder, value)
        return value

    def data(self, value):
        """Every string (keys too) of a JSON value normalised; hashes and durations by their keys."""
        if isinstance(value, dict):
            keys = {k: self.text(k) for k in value}
            assert len(set(keys.values())) == len(keys), f"keys that normalise alike, add a literal: {keys}"
            return {keys[k]: self.keyed(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return self.text(value) if isinstance(value, str) else value

    def keyed(self, key, value):
        if value is None:
            return None
        if key in ("sha256", "previous_sha256", "fingerprint_sha256"):
            return "<sha256>"
        if key.endswith("duration_s") or key == "duration":
            return "<duration>"
        return self.data(value)

    def is_volatile(self, check_id):
        return check_id.split("::")[-1].split("[")[0] in self.volatile


def shape(value):
    """A measured value's shape: the same keys, "<number>" where a number was."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return "<number>" if isinstance(value, (int, float)) and not isinstance(value, bool) else value


# --- what is captured of a run -------------------------------------------------------------------------------------

def results_of(run, norm, starts):
    """The results file (latest.json): each check's measured-now value by its shape, ``failing_since`` as the run
    it names (``starts``: the started_at of the scenario's runs, oldest first)."""
    doc = json.loads((run.report_dir / "latest.json").read_text())
    for check in doc["checks"]:
        if norm.is_volatile(check["id"]):
            check["value"] = shape(check["value"])
            if check.get("trend"):
                check["trend"]["value"] = shape(check["trend"]["value"])
        if norm.evidence == "names":
            check["evidence"] = sorted(check["evidence"])
        if check.get("failing_since") in starts:
            check["failing_since"] = f"<start of run {starts.index(check['failing_since']) + 1}>"
    return norm.data(doc)


class Blocks(HTMLParser):
    """HTML as its text, one line per block (heading, paragraph, list item, table row, details' summary, pre),
    each prefixed by its tag and class; a table row's cells joined by " | "."""

    BLOCK = {"h1", "h2", "h3", "h4", "p", "li", "tr", "summary", "pre", "caption", "figcaption", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines, self.label, self.parts, self.skip = [], None, [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.flush()
            css = dict(attrs).get("class") or dict(attrs).get("id")
            self.label = tag + (f".{css}" if css else "")
        elif tag in ("td", "th") and self.parts and self.parts[-1].strip():
            self.parts.append(" | ")

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self.skip -= 1
        elif tag in self.BLOCK:
            self.flush()

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def flush(self):
        text = " ".join("".join(self.parts).split())
        if text:
            self.lines.append(f"{self.label or 'text'}: {text}")
        self.label, self.parts = None, []

    @classmethod
    def of(cls, fragment):
        parser = cls()
        parser.feed(fragment)
        parser.close()
        parser.flush()
        return parser.lines


# pytest-html's environment: the machine's and the suite's versions, who ran it and when, vary by machine and commit
MACHINE = ("Python", "Platform", "Packages", "Plugins", "Host", "Suite version", "Run by", "Started at")


def record_of(run, norm):
    """The record (latest.html) as a structural summary: its title, the summary on top (status, counts, failing
    checks, alerts, targets, waivers, results file), the table's columns, every row's cells, log and extras, and
    the environment (the machine's entries by name only)."""
    page = (run.report_dir / "latest.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    top = page[page.index('<div class="additional-summary prefix">'):page.index('<p class="run-count">')]
    head = page[page.index('<thead id="results-table-head">'):page.index("</thead>")]
    return norm.data({
        "title": Blocks.of(page[:page.index("<body>")] + page[page.index("<h1"):page.index("</h1>") + 5]),
        "summary": Blocks.of(top),
        "run count": Blocks.of(page[page.index('<p class="run-count">'):].split("</p>")[0]),
        "filters": re.findall(r'<span class="(\w+)">([^<]*)</span>', page[page.index('<div class="filters">'):
                                                                           page.index('<div class="collapse">')]),
        "columns": Blocks.of(head),
        "environment": {k: ("<machine>" if k in MACHINE else v) for k, v in blob.get("environment", {}).items()},
        "row order": list(blob["tests"]),
        "rows": {test_id: [row_of(entry, norm) for entry in entries] for test_id, entries in blob["tests"].items()},
        "other": {k: v for k, v in blob.items() if k not in ("environment", "tests")},
    })


def row_of(entry, norm):
    """One row of the record's table: its cells as text (the measured cell by a placeholder for a measured-now
    check), its log and its extras (evidence by name only where ``norm.evidence`` says so)."""
    cells = {}
    for cell in entry["resultsTableRow"]:
        name = re.search(r'class="col-([\w-]+)"', cell).group(1)
        cells[name] = " ".join(Blocks.of(f"<p>{cell}</p>")).removeprefix("p: ")
    if norm.is_volatile(entry["testId"]):
        cells["measured"] = "<measured>"
    cells.pop("duration", None)
    extras = [Blocks.of(extra.get("content", "")) if extra.get("format_type") == "html" else extra
              for extra in entry.get("extras", [])]
    if norm.evidence == "names":
        extras = [[line for line in lines if line.startswith("summary")] if isinstance(lines, list) else lines
                  for lines in extras]
    rest = {k: v for k, v in entry.items() if k not in ("resultsTableRow", "extras", "duration")}
    return {**rest, "cells": cells, "extras": extras}


PROGRESS = re.compile(r"^\S+\.py [.FEsxX]+\s*(\[\s*\d+%\])?$")
# pytest's headings ("==== 2 failed in 0.07s ===="): padded to the terminal's width around a text whose length
# varies with the duration, so compared without the padding.
HEADING = re.compile(r"^[=_-]{3,} (.*) [=_-]{3,}$")


def terminal_of(run, norm):
    """The terminal's last lines: everything after the checks' progress lines (failures, the alerts, status and
    results lines, pytest's summary)."""
    lines = run.stdout.splitlines()
    last = max((n for n, line in enumerate(lines) if PROGRESS.match(line)), default=-1)
    return [HEADING.sub(r"=== \1 ===", norm.text(line.rstrip())) for line in lines[last + 1:] if line.strip()]


def history_of(run, norm):
    """This run's line in the history (history-<month>.jsonl): what an audit greps; the trend values of
    measured-now checks by their shape."""
    newest = sorted(run.report_dir.glob("history-*.jsonl"))[-1]  # a run just past midnight on the 1st: a new month
    line = json.loads(newest.read_text().splitlines()[-1])
    varying = {c["trend"]["name"] for c in json.loads((run.report_dir / "latest.json").read_text())["checks"]
               if c.get("trend") and norm.is_volatile(c["id"])}
    for values in [line.get("values") or {}, *(line.get("target_values") or {}).values()]:
        for trend in varying & set(values):
            values[trend] = [shape(values[trend][0]), *values[trend][1:]]
    return norm.data(line)


def prometheus_of(folder, norm):
    """The Prometheus text file(s): every line, a sample's value by a placeholder where it varies (a measured-now
    check's, the run's times, ``norm.measured_series``)."""
    samples = []
    for path in sorted(folder.glob("*.prom")):
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                samples.append(norm.text(line))
                continue
            series, _, number = line.rpartition(" ")
            check = re.search(r'check="([^"]*)"', series)
            name = series.split("{")[0]
            varies = name in norm.measured_series or (
                name.startswith("digitalme_check_value") and check and norm.is_volatile(check.group(1)))
            samples.append(norm.text(f"{series} {'<value>' if varies else number}"))
    return samples


def capture(run, norm, received, starts, prometheus=None):
    """Everything compared of one run."""
    captured = {"exit code": run.returncode, "terminal": terminal_of(run, norm),
                "results": results_of(run, norm, starts), "received": norm.data(received),
                "record": record_of(run, norm), "history": history_of(run, norm)}
    if prometheus is not None:
        captured["prometheus"] = prometheus_of(prometheus, norm)
    return captured


# --- the comparison -------------------------------------------------------------------------------------------------

def as_text(value):
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def assert_as_before(scenario, captured):
    """The capture equals the snapshot made before the restructuring; else a diff of each differing part.
    ``UPDATE_SNAPSHOTS=1`` writes the capture as the snapshot instead."""
    path = SNAPSHOTS / f"{scenario}.json"
    captured = json.loads(as_text(captured))  # as it would be read back (tuples become lists)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(as_text(captured) + "\n")
        return
    assert path.exists(), f"no snapshot {path}: make it with UPDATE_SNAPSHOTS=1 (see this module's docstring)"
    before = json.loads(path.read_text())
    differing = [(where, old, new) for where, old, new in flattened_pairs(before, captured) if old != new]
    diffs = ["\n".join(difflib.unified_diff(as_text(old).splitlines(), as_text(new).splitlines(),
                                            f"before: {scenario} {where}", f"now: {scenario} {where}", lineterm=""))
             for where, old, new in differing]
    if diffs:
        pytest.fail(f"{scenario}: behaviour changed in {[w for w, _, _ in differing]} (- before, + now):\n"
                    + "\n".join(diffs), pytrace=False)


def flattened_pairs(before, now):
    """(part, before, now) for each part of a capture: its top-level keys, and one level down for multi-run
    scenarios ("run 1" -> "run 1 results")."""
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if key.startswith("run ") and isinstance(old, dict) and isinstance(new, dict):
            yield from ((f"{key} {where}", o, n) for where, o, n in flattened_pairs(old, new))
        else:
            yield key, old, new
