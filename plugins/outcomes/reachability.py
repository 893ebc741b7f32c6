"""One headline for an unreachable target: one critical finding says so, and the checks that depend on what is down
are "not checked because of it". What is unreachable, what is dependent, and when: docs/design.md, "An
unreachable target: one headline".
"""

import dataclasses

import pytest

from plugins.configuration.targets import fleet, target_of, targets_of
from plugins.probes import ProbeError
from plugins.probes.declared import PROBES
from plugins.probes.docker_clients import docker_probe

HEADLINE = "test_target_reachable"  # the headline check's function name (tests_health/test_reachable.py)
NOT_CHECKED = "not checked"  # the outcome of a check the headline stands for
BLOCKED = pytest.StashKey[dict]()  # on an item: what made it "not checked", and the failure it would have been
REACH = pytest.StashKey[dict]()  # target name -> its Reach, once per process
SELECTED = pytest.StashKey[set]()  # the target names whose headline check is selected in this run
HTTP_FIXTURES = {"endpoints", "tls"}
DOCKER_FIXTURES = {"docker", "app_container", "container_files", "container_memory", "inside_container", "databases",
                   "app_logs", "compose_services", "certificate_on_disk", "after_change"}
HOST_FIXTURES = {"host", "host_facts_by_host", "_testinfra_host"}
LISTED_MAX = 6  # checks named in the headline's message (the value lists them all)


@dataclasses.dataclass(frozen=True)
class Reach:
    """What answered of one target: HTTP, the Docker daemon, and the app container's state."""
    http: str  # "" when an endpoint answered, else why none did
    http_answer: str  # the first answer ("<url> answered 200") or, with none, why ("<url> gave no answer after ...")
    docker: str  # "" when the Docker daemon answered, else why not
    container: str  # "" when the app container runs, else its state ("exited (code 137) ...", "does not exist")
    remote_host: bool = False  # the target's host checks go over ssh (they need it to answer)

    @property
    def unreachable(self):
        return bool((self.http and self.docker) or self.container)

    @property
    def finding(self):
        """What was found, in the operator's words (empty when the target is reachable)."""
        if self.container:
            return f"{self.container}; HTTP: {self.http_answer}"
        if self.unreachable:
            return f"neither HTTP nor Docker answers: {self.http_answer}; {self.docker}"
        return ""

    def down(self):
        """The fixtures whose probes cannot answer (their checks' failures are this headline's): HTTP and Docker
        both, whether neither answers or the app container (which serves HTTP) is not running."""
        return HTTP_FIXTURES | DOCKER_FIXTURES if self.unreachable else set()

    def blocks(self, fixturenames, outcome):
        """Whether a check using ``fixturenames`` that ended ``outcome`` (failed or error) failed because of it."""
        names = set(fixturenames)
        if names & self.down():
            return True
        # a remote host's checks that could not run (ssh does not answer either): not a finding on the host
        return bool(self.http and self.docker and self.remote_host and outcome == "error" and names & HOST_FIXTURES)


def http_of(config, target):
    """("" or why no endpoint answered, the first answer described)."""
    endpoints = PROBES.fetched(config, target, "endpoints")
    answers = list(endpoints.answers.values())
    answered = [a for a in answers if a.answered]
    if answered:  # without its time: the value stays the same from run to run
        return "", f"{answered[0].url} answered {answered[0].status}"
    first = answers[0] if answers else None
    return (first.error if first else "no endpoint configured") or "no answer", first.describe() if first else ""


def container_of(config, target):
    """("" or why the Docker daemon did not answer, "" or why the app container is not running)."""
    name = target.settings.container
    try:
        docker_probe(config, target).client
    except ProbeError as e:
        return f"Docker: {e}", ""
    try:
        state = PROBES.fetched(config, target, "app_container").get("State") or {}
    except ProbeError as e:
        text = str(e)
        return "", (f"app container {name} does not exist" if text.endswith(": not found") else "")
    if state.get("Running") and not state.get("Restarting"):
        return "", ""
    status, finished = state.get("Status", "not running"), state.get("FinishedAt") or ""
    since = f" since {finished[:19]}Z" if finished and not finished.startswith("0001") else ""  # 0001: never ran
    return "", f"app container {name} is {status} (exit code {state.get('ExitCode', '?')}){since}, not running"


def remote_host(config, target):
    """Whether the target's host checks reach their host over the network (a fleet target's ``host``, --hosts)."""
    spec = target.settings.host if fleet(config) else (config.option.hosts or "")
    return bool(spec) and not spec.startswith("local://")


def reach_of(config, target):
    """The target's Reach, judged once per process (the headline check and the dependent checks read the same)."""
    known = config.stash.setdefault(REACH, {})
    if target.name not in known:
        http, answer = http_of(config, target)
        docker, container = container_of(config, target)
        known[target.name] = Reach(http, answer, docker, container, remote_host(config, target))
    return known[target.name]


def is_headline(item):
    return getattr(item, "originalname", item.name) == HEADLINE


def headline_selected(item):
    """Whether the run has the headline check of this check's target (else nothing would say it is down)."""
    config = item.config
    if SELECTED not in config.stash:
        config.stash[SELECTED] = {target_of(i) for i in item.session.items if is_headline(i)}
    return target_of(item) in config.stash[SELECTED]


def judge(item, report, message):
    """A dependent check's setup or call failed with ``message``: when its target is unreachable (and the run has
    its headline), its report becomes a "not checked" skip naming why; returns whether it did."""
    if report.when not in ("setup", "call") or is_headline(item) or not headline_selected(item):
        return False
    reach = reach_of(item.config, targets_of(item.config)[target_of(item)])
    could_not = message.startswith("could not be checked: ")  # outcomes.COULD_NOT_CHECK: the check did not run
    outcome = "error" if report.when != "call" or could_not else "failed"
    if not reach.unreachable or not reach.blocks(item.fixturenames, outcome):
        return False
    headline = headline_id(item)
    item.stash[BLOCKED] = {"check": headline, "finding": reach.finding, "outcome": outcome, "message": message}
    report.outcome = "skipped"
    report.longrepr = (str(item.path), (item.location[1] or 0) + 1, because(item.stash[BLOCKED]))
    report.digitalme_not_checked = True  # travels with the report (xdist): the terminal's NOT CHECKED
    return True


def headline_id(item):
    """The id of the headline check of ``item``'s target in this run."""
    name = target_of(item)
    return next(i.nodeid for i in item.session.items if is_headline(i) and target_of(i) == name)


def blocked_of(item, outcome, message):
    """(outcome, message, blocked_by) of a check at teardown, from what its setup or call judged."""
    blocked = item.stash.get(BLOCKED, None)
    if blocked is None or outcome != "skipped":
        return outcome, message, None
    return NOT_CHECKED, because(blocked), blocked


def because(blocked):
    """A "not checked" check's message: why, and which check says it."""
    return f"{NOT_CHECKED}: its target is unreachable, see {blocked['check'].split('::')[-1]} ({blocked['finding']})"


def gather(run):
    """At the end of the run: each failing headline lists the checks not checked because of it; a check whose
    headline did not fail (judged differently, in another process) gets its own failure back. Returns whether
    any did (the run then fails, as it would have)."""
    headlines = {c.id: c for c in run.checks if c.id.split("::")[-1].split("[")[0] == HEADLINE}
    restored = False
    for check in run.checks:
        if check.outcome != NOT_CHECKED or not check.blocked_by:
            continue
        headline = headlines.get(check.blocked_by.get("check"))
        if headline is None or headline.outcome not in ("failed", "error", "waived"):
            check.outcome, check.message = check.blocked_by["outcome"], check.blocked_by["message"]
            restored = True
    for headline in headlines.values():
        listed = [c for c in run.checks
                  if c.outcome == NOT_CHECKED and (c.blocked_by or {}).get("check") == headline.id]
        if listed and headline.outcome in ("failed", "error", "waived"):
            measured = headline.value if isinstance(headline.value, dict) else {}
            headline.value = {**measured, NOT_CHECKED: [c.title for c in listed]}
            titles = "; ".join(c.title for c in listed[:LISTED_MAX])
            more = f" and {len(listed) - LISTED_MAX} more" if len(listed) > LISTED_MAX else ""
            headline.message += f"; not checked because of it: {len(listed)} checks ({titles}{more})"
    return restored


# --- hooks --------------------------------------------------------------------------------------

def pytest_report_teststatus(report, config):
    """A check the headline stands for reads ``NOT CHECKED`` (``n``), not a plain skip."""
    if getattr(report, "digitalme_not_checked", False) and report.when in ("setup", "call"):
        return NOT_CHECKED, "n", ("NOT CHECKED", {"yellow": True})
    return None
