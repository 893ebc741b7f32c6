"""No answer records no response time (plugins/probes/http.py, tests_health/test_endpoints.py, plugins/outputs/history/).

The real suite's response-time check runs against a real HTTP server on 127.0.0.1, then against the same port
with nothing listening (the connection refused), then against the server again. The refused run records no
response time (``"value": null`` in the results file, never curl's 0.02 s to the refusal) and the history's chart
of /health response times has a gap there: two lines, each with its own run's point, not one line through it.
"""

import contextlib
import http.server
import json
import re
import threading
import time
from pathlib import Path

from conftest import run_pytest
from sandbox import free_ports

REPO = Path(__file__).resolve().parents[2]
CHECK = "tests_health/test_endpoints.py::test_endpoint_answers_within_time"
ANSWERS = {"/health": (b"Healthy", "text/plain"), "/health/ready": (b"Healthy", "text/plain"),
           "/info": (b'{"version": "1.0", "environment": "Production"}', "application/json")}


class App(http.server.BaseHTTPRequestHandler):
    """The app's endpoints, as the sandbox answers them."""

    def do_GET(self):
        body, kind = ANSWERS.get(self.path, (b"not found", "text/plain"))
        self.send_response(200 if self.path in ANSWERS else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def answering(port):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run(port, report_dir):
    """The real suite's response-time check against 127.0.0.1:port, in a second of its own (one stamp a run)."""
    second = int(time.time())
    while int(time.time()) == second:
        time.sleep(0.05)
    env = {"DIGITALME_BASE_URL": f"http://127.0.0.1:{port}", "DIGITALME_HTTPS_URL": "", "DIGITALME_ALERTS": "off"}
    done = run_pytest(REPO, [CHECK, "-p", "no:randomly", "-p", "no:cacheprovider"], env, report_dir)
    assert "Traceback" not in done.stdout, done
    done.document = done.results  # latest.json now: the next run replaces it
    return done


def health(done):
    return next(c for c in done.document["checks"] if c["id"].endswith("[/health]"))


def test_a_refused_connection_records_no_response_time_and_the_chart_has_a_gap(tmp_path):
    port = free_ports(1)[0]
    reports = tmp_path / "reports"
    with answering(port):
        answered = run(port, reports)
    refused = run(port, reports)
    with answering(port):
        again = run(port, reports)

    for done in (answered, again):
        assert done.returncode == 0, done
        value = health(done)["value"]
        assert isinstance(value["total_s"], float) and value["total_s"] > 0, value
    assert refused.returncode == 1, refused
    check = health(refused)
    assert check["outcome"] == "failed" and check["value"] is None, check
    assert re.match(r"^/health gave no answer after [\d.]+ s: .*(onnect|refused)", check["message"]), check
    assert check["evidence"]["curl-format timings"].startswith("no answer: "), check["evidence"]
    raw = json.loads(Path(refused.document["files"]["json"]).read_text())
    assert [c["value"] for c in raw["checks"]] == [None, None, None], "a refused connection has no response time"

    state = json.loads((reports / "state" / "history.json").read_text())
    values = [value for _, value, _ in state["points"]["health-response-time"][""]]
    assert values[1] is None and all(isinstance(v, float) for v in values[::2]), values
    index = (reports / "index.html").read_text()
    figure = index[index.index('aria-label="/health response time"'):].split("</svg>")[0]
    assert figure.count("<circle") == 2, "one point for each run that was answered, none for the refused one"
    assert figure.count("<polyline") == 2, "the line is broken where the run got no answer"


def test_answered_runs_are_one_line_without_a_gap(tmp_path):
    port = free_ports(1)[0]
    reports = tmp_path / "reports"
    with answering(port):
        runs = [run(port, reports), run(port, reports)]
    assert all(done.returncode == 0 for done in runs), runs
    index = (reports / "index.html").read_text()
    figure = index[index.index('aria-label="/health response time"'):].split("</svg>")[0]
    assert figure.count("<circle") == 2 and figure.count("<polyline") == 1, figure


def test_a_gap_beside_a_value_of_the_same_second_still_draws():
    """Two runs started in the same second, one answered and one not: the index draws (a gap's None is never
    compared with a number) with the answered run's point."""
    import datetime as dt
    from plugins.outputs.history import bookkeeping, index
    state = bookkeeping.empty_state()
    state["trends"]["health-response-time"] = ["/health response time", "s"]
    state["points"]["health-response-time"] = {"": [["2026-12-07T10:00:00+00:00", None, 1.0],
                                                      ["2026-12-07T10:00:00+00:00", 0.1, 1.0]]}
    page = index.render(state, dt.datetime(2026, 12, 7, 12, tzinfo=dt.timezone.utc))
    figure = page[page.index('aria-label="/health response time"'):].split("</svg>")[0]
    assert figure.count("<circle") == 1, figure
