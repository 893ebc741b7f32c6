"""The suite's extension points: hooks a plugin (``-p my_plugin``, or a conftest) implements to add an alert
channel or an output without editing the suite. docs/extending.md shows an example. Their names start with
``pytest_``: pytest takes only such functions of a plugin as hook implementations.
"""

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


class Specs:
    """The specifications (in a class, so that this module's own ``pytest_addhooks`` is not taken for one)."""

    @staticmethod
    @hookspec(firstresult=True)
    def pytest_digitalme_deliver_alert(config, alert, route):
        """Deliver one alert: ``alert`` is its payload (the dict a webhook receives), ``route`` its severity's
        route, ``"critical"``, ``"warning"`` or ``"emergency"`` (Level 3). Return ``{"state", "reason", "delivered", "attempts",
        "last_error"}`` (state ``sent``, ``queued`` to be tried again next run, or ``failed``), or None to leave
        it to the next implementation. The first result wins; the suite's own, the signed webhook POST, comes
        last (plugins/outputs/alerting/channels/). Called on the process that owns the run, under the alert lock; never
        inside the maintenance window or in dry-run."""

    @staticmethod
    @hookspec
    def pytest_digitalme_run_finished(config, run):
        """A finished run, after every output (alerts, results file, record, history): add one. ``run`` is the
        :class:`plugins.outcomes.run.Run`: ``run.checks`` (each a CheckOutcome: id, title, severity, outcome,
        message, value, threshold, evidence), ``run.status``, ``run.alerts``, ``run.stem``. Called once per run,
        on the process that owns it (the xdist controller), also when the report folder could not be written."""


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(Specs)
