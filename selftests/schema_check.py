"""Every results file and alert payload the selftests produce is held to the published schemas (docs/schemas/, issue
26), with PyPI ``jsonschema``: a drift between what the suite writes or sends and what consumers are told fails the
test that produced it, naming the file or request and the schema's complaint.

Hooked where the selftests meet the suite's outputs, so a new test gets it for free: conftest's ``run_pytest`` and
``SuiteRun`` (the results files a subprocess run wrote), the webhook receivers (test_alerts.Receiver, the behaviour
snapshots' own receiver); the few tests that start the suite themselves (``make demo``, the memory benchmark, two
runs at once) call :func:`assert_results_files` after it.
"""

import functools
import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"
RESULTS, ALERT = "results.schema.json", "alert.schema.json"
RESULTS_FILE = re.compile(r"^(latest|\d{8}T\d{6}Z-.+)\.json$")  # plugins/outputs/results.py names them so
ERRORS_SHOWN = 8


class SchemaMismatch(AssertionError):
    """A document that does not match its published schema."""


@functools.lru_cache(maxsize=None)
def validator(name):
    """A Draft 2020-12 validator of ``docs/schemas/<name>``; the other schema files resolve by their file names
    (the schemas refer to each other relatively, as they sit side by side wherever they are published)."""
    schemas = {path.name: json.loads(path.read_text()) for path in SCHEMAS.glob("*.schema.json")}
    registry = Registry().with_resources((file, Resource.from_contents(schema)) for file, schema in schemas.items())
    Draft202012Validator.check_schema(schemas[name])
    return Draft202012Validator(schemas[name], registry=registry)


def problems(document, name):
    """What in ``document`` does not match ``docs/schemas/<name>``: one line each (where, then the complaint; for
    a failed choice between variants, each variant's deepest complaint), at most ``ERRORS_SHOWN``."""
    found = sorted(validator(name).iter_errors(document), key=lambda e: (str(list(e.absolute_path)), e.message))
    more = [f"... and {len(found) - ERRORS_SHOWN} more"] if len(found) > ERRORS_SHOWN else []
    return [line_of(error) for error in found[:ERRORS_SHOWN]] + more


def line_of(error):
    where = path_of(error)
    if not error.context:
        return f"at {where}: {error.message[:300]}"
    # oneOf/anyOf: not its message (the whole document), but the deepest reasons the choices did not fit
    depth = max(len(e.absolute_path) for e in error.context)
    deepest = [e for e in error.context if len(e.absolute_path) == depth][:3]
    return f"at {where}: fits none of the schema's choices ({error.validator}), nearest:" + "".join(
        f"\n      - at {path_of(e)}: {e.message[:200]}" for e in deepest)


def path_of(error):
    return "".join(f"[{part!r}]" for part in error.absolute_path) or "(the document)"


def assert_matches(document, name, where):
    """Raise SchemaMismatch naming ``where`` (a file, a request) and the complaints, when ``document`` does not
    match ``docs/schemas/<name>``."""
    found = problems(document, name)
    if found:
        raise SchemaMismatch(f"{where} does not match docs/schemas/{name}:\n  " + "\n  ".join(found))


# --- results files ------------------------------------------------------------------------------------------

def results_files(folder):
    """{path: (mtime, size)} of the results files in ``folder`` (``latest.json`` and the dated files)."""
    found = {}
    for path in Path(folder).glob("*.json") if Path(folder).is_dir() else ():
        if RESULTS_FILE.match(path.name):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


def assert_results_files(folder, before=None):
    """Every results file in ``folder`` written or changed since ``before`` (``results_files`` taken before the run;
    None: every one) matches the results schema. A file removed meanwhile (a thinned run's) is passed over."""
    before, checked = before or {}, set()
    for path, stamp in results_files(folder).items():
        if before.get(path) == stamp:
            continue
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        if text in checked:  # latest.json is the dated file's copy: one validation (~2 ms per check) for both
            continue
        checked.add(text)
        try:
            document = json.loads(text)
        except ValueError as e:
            raise SchemaMismatch(f"results file {path} is not JSON: {e}") from None
        assert_matches(document, RESULTS, f"results file {path}")


# --- webhook payloads ----------------------------------------------------------------------------------------

def payload_problem(method, path, body):
    """Why a request a webhook receiver got is not a valid alert payload (one text naming the request), or None:
    a POST's body is the suite's alert payload; a GET (the heartbeat) has none."""
    if method != "POST":
        return None
    try:
        payload = json.loads(body)
    except ValueError as e:
        return f"POST {path}: the body is not JSON ({e}): {body[:200]!r}"
    found = problems(payload, ALERT)
    return f"POST {path} does not match docs/schemas/{ALERT}:\n  " + "\n  ".join(found) if found else None
