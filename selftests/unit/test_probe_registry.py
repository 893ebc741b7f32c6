"""A probe is declared once (plugins/probes/declared.py): its session fixture and its prefetching come from that
declaration, and a name no declaration gives stops the suite where it is written, never a probe silently not
prefetched (plugins/probes/registry.py)."""

import pathlib
import subprocess
import sys

import pytest

from plugins.probes.declared import PROBES
from plugins.probes.registry import Registry, UnknownProbe

REPO = pathlib.Path(__file__).resolve().parents[2]


def declared_pair():
    probes = Registry()

    @probes.probe()
    def inside(config, target):
        """Inside."""
        return "inside"

    @probes.probe(reads=("inside",))
    def memory(config, target):
        """Memory, read from inside."""
        return probes.fetched(config, target, "inside")
    return probes


def test_a_probe_reading_an_undeclared_name_is_refused_naming_it_and_the_declared_ones():
    probes = declared_pair()
    with pytest.raises(UnknownProbe, match=r"probe 'cpu' reads 'insde': no probe of that name is declared "
                                           r"\(plugins/probes/declared.py declares inside, memory\)"):
        @probes.probe(reads=("insde",))
        def cpu(config, target):
            """CPU."""


def test_a_fixture_reading_an_undeclared_probe_is_refused():
    probes = declared_pair()
    with pytest.raises(UnknownProbe, match=r"fixture 'headline' reads 'memroy'"):
        @probes.read_by("memroy")
        def headline():
            """A fixture reading a probe without requesting its fixture."""


def test_asking_for_an_undeclared_probe_is_refused():
    with pytest.raises(UnknownProbe, match=r"asked for probe 'endpoint': no probe of that name is declared"):
        PROBES.fetched(None, None, "endpoint")


def test_a_check_using_a_probe_or_a_reader_starts_it_and_what_it_reads():
    probes = declared_pair()

    @probes.read_by("memory")
    def headline():
        """Reads memory."""
    assert probes.started_by({"memory"}) == {"memory", "inside"}
    assert probes.started_by({"headline", "settings"}) == {"memory", "inside"}
    assert probes.started_by({"settings", "check"}) == set()


def test_every_declared_probe_is_started_by_its_own_fixture_except_the_cheap_ones():
    for name in PROBES.names():
        expected = {name} if PROBES[name].background else set()
        assert name in PROBES.started_by({name}) or not expected, name
    assert not PROBES["docker"].background, "the Docker client is cheap: made where first needed, never in a thread"


def test_each_declaration_is_a_session_fixture_of_its_name_with_its_docstring():
    fixtures = PROBES.fixtures()
    assert list(fixtures) == PROBES.names()
    listed = subprocess.run([sys.executable, "-m", "pytest", "--fixtures", "-q", "-p", "no:cacheprovider"], cwd=REPO,
                            capture_output=True, text=True, timeout=120).stdout
    for name in PROBES.names():
        first_doc_line = PROBES[name].fetch.__doc__.strip().splitlines()[0].strip()
        assert f"{name} [session scope] -- plugins/probes/registry.py" in listed, (name, listed[-3000:])
        assert first_doc_line in listed, (name, first_doc_line)
