"""The probe registry: what a probe's one declaration (plugins/probes/declared.py) gives the run.

A declaration is the function that fetches the probe, decorated with ``@PROBES.probe(...)``: its name is the
function's name, and from it come the session fixture of that name (made in conftest.py), the value fetched once
per target (in a background thread when prefetching started it, plugins/probes/prefetch.py; else when a check
first needs it) and the prefetching itself, which starts a probe when a collected check uses a fixture of its
name. A name that is not declared (in ``reads``, ``read_by``, :meth:`Registry.fetched`) raises
:class:`UnknownProbe` where it is written, when the suite starts: never a probe silently not prefetched.
"""

import dataclasses
import functools
import threading

import pytest

from plugins.probes.background import Background

_STARTED = pytest.StashKey[dict]()  # target name -> {probe name: Background}
_LOCK = threading.Lock()  # probes of several targets start from the main thread and their own threads


class UnknownProbe(LookupError):
    """A probe name that no declaration gives (a misspelling): raised at start-up, where the name is written."""


@dataclasses.dataclass(frozen=True)
class Probe:
    """One declared probe. ``fetch(config, target)`` returns its value for the target (or raises ProbeError)."""
    name: str
    fetch: object
    reads: tuple = ()  # the probes its fetch reads: started with it, and before it
    background: bool = True  # False: cheap to make, fetched where first needed, never in a thread
    on_hosts: bool = False  # reads testinfra's hosts, whose cache must be filled in the main thread first


class Registry:
    """The declared probes, in declaration order (a probe after those it reads), and the fixtures that read some
    of them without requesting their fixtures."""

    def __init__(self):
        self._probes = {}
        self._readers = {}  # fixture name -> the probes it reads
        self._started_by = {}  # fixture names -> started_by() of them (emptied by each declaration)

    def probe(self, reads=(), background=True, on_hosts=False):
        """Declares the decorated ``fetch(config, target)`` as the probe of its name; its docstring is the
        fixture's."""
        def declare(fetch):
            self.check_declared(reads, f"probe {fetch.__name__!r} reads")
            self._started_by.clear()
            self._probes[fetch.__name__] = Probe(fetch.__name__, fetch, tuple(reads), background, on_hosts)
            return self._probes[fetch.__name__]
        return declare

    def read_by(self, *names):
        """Declares the decorated fixture (not a probe) as reading these probes: a check using it starts them."""
        def declare(fixture_function):
            self.check_declared(names, f"fixture {fixture_function.__name__!r} reads")
            self._started_by.clear()
            self._readers[fixture_function.__name__] = names
            return fixture_function
        return declare

    def check_declared(self, names, where):
        unknown = [name for name in names if name not in self._probes]
        if unknown:
            raise UnknownProbe(f"{where} {', '.join(map(repr, unknown))}: no probe of that name is declared "
                               f"(plugins/probes/declared.py declares {', '.join(self._probes)})")

    def __getitem__(self, name):
        self.check_declared((name,), "asked for probe")
        return self._probes[name]

    def names(self):
        return list(self._probes)

    def fixtures(self):
        """One session fixture per probe, by the probe's name, with its docstring: the probe's value for the
        check's target."""
        return {probe.name: self._fixture(probe.name, probe.fetch.__doc__) for probe in self._probes.values()}

    def _fixture(self, name, doc):
        def fixture(pytestconfig, target):
            return self.fetched(pytestconfig, target, name)
        fixture.__name__ = fixture.__qualname__ = name
        fixture.__doc__ = doc
        return pytest.fixture(scope="session", name=name)(fixture)

    def started_by(self, fixturenames):
        """The names of the background probes that checks using these fixtures need, with the probes they read."""
        key = tuple(fixturenames)
        if key not in self._started_by:  # asked for every collected check of every target: worked out once
            self._started_by[key] = frozenset(self._needed(key))
        return self._started_by[key]

    def _needed(self, fixturenames):
        names = set(fixturenames)
        names.update(*(self._readers.get(name, ()) for name in list(names)))
        names.update(*(self._probes[name].reads for name in list(names) if name in self._probes))
        return {name for name in names if name in self._probes and self._probes[name].background}

    def start(self, config, target, names):
        """Start the target's background probes named here (see :meth:`started_by`), each once per run, in
        declaration order. Called from the main thread only."""
        if names <= config.stash.get(_STARTED, {}).get(target.name, {}).keys():
            return  # all started already: every check of a target asks again
        wanted = [probe for probe in self._probes.values() if probe.name in names and probe.background]
        if any(probe.on_hosts for probe in wanted):
            # testinfra's host cache is filled without a lock: fill it here, in the main thread, before a probe's
            # thread reads it (collection may still be asking it for the same hosts)
            from plugins.configuration.targets import checked_hosts
            checked_hosts(config, target)
        with _LOCK:
            started = config.stash.setdefault(_STARTED, {}).setdefault(target.name, {})
            for probe in wanted:
                if probe.name not in started:
                    started[probe.name] = Background(f"{probe.name} of {target}",
                                                     functools.partial(probe.fetch, config, target))

    def fetched(self, config, target, name):
        """A probe's value: from its background thread when one was started, else fetched now."""
        probe = self[name]
        job = config.stash.get(_STARTED, {}).get(target.name, {}).get(name)
        return job.result() if job is not None else probe.fetch(config, target)

