"""How the container's log lines become entries (plugins/probes/logs.py), no sandbox needed: ASP.NET's console logger's
lines grouped into entries with Docker's timestamps split off, and the entries already reported kept per schedule,
bounded, and recognised when a later window cuts one. The judging of real log streams: sandbox/test_faults_logs.py."""


def test_lines_group_into_entries_with_docker_timestamps_split_off():
    from plugins.probes.logs import entries
    lines = [
        "2026-11-29T09:00:00.000000001Z       at Cut.Off.Frame()",  # an entry cut at the window's start
        "2026-11-29T09:00:00.000000002Z fail: Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]",
        "2026-11-29T09:00:00.000000003Z       An unhandled exception has occurred while executing the request.",
        "2026-11-29T09:00:00.000000004Z       System.InvalidOperationException: boom",
        "2026-11-29T09:00:00.000000005Z          at DigitalMe.Api.Send()",
        "2026-11-29T09:00:01.000000000Z warn: Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager[35]",
        "2026-11-29T09:00:01.000000001Z       No XML encryptor configured. Key {x} may be persisted to storage in unencrypted form.",
        "2026-11-29T09:00:02.000000000Z Unhandled exception. System.OutOfMemoryException: Insufficient memory",
        "2026-11-29T09:00:02.000000001Z    at DigitalMe.Program.Main()",
        "2026-11-29T09:00:03.000000000Z info: DigitalMe.Api[0] Exception filter registered",
    ]
    found = entries(lines)
    assert [(e.level, e.category, len(e.lines)) for e in found] == [
        ("", "", 1), ("fail", "Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", 4),
        ("warn", "Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", 2), ("", "", 2), ("info", "DigitalMe.Api", 1)]
    assert found[1].timestamp == "2026-11-29T09:00:00.000000002Z" and found[1].text.startswith("fail: ")
    # fail by its level; the runtime's own crash output by the manual's pattern; warn and info never, whatever they say
    assert [e.is_error for e in found] == [False, True, False, True, False]


def test_reported_entries_are_kept_per_schedule_bounded_and_recognised_when_cut(tmp_path):
    import re
    from plugins.probes.logs import ReportedEntries, entries
    pattern = re.compile("FATAL")
    whole = entries(["2026-11-29T09:00:00.1Z crit: DigitalMe.Program[0]", "2026-11-29T09:00:00.2Z       FATAL: x"])
    cut = entries(["2026-11-29T09:00:00.2Z       FATAL: x"])  # a later window starts inside the same entry
    monitor = ReportedEntries(str(tmp_path), "monitor")
    assert monitor.sort_out(whole, pattern)[0] == whole
    new, earlier = ReportedEntries(str(tmp_path), "monitor").sort_out(cut, pattern)
    assert new == [] and earlier[0][0] == cut[0]
    assert ReportedEntries(str(tmp_path), "daily or weekly").sort_out(whole, pattern)[0] == whole
    assert (tmp_path / "state" / "log-entries-daily-or-weekly.json").is_file()
    # credentials in an entry are their own finding: the critical check's memory does not silence them
    credentials = ReportedEntries(str(tmp_path), "monitor", finding="credentials")
    assert credentials.sort_out(whole)[0] == whole and credentials.path.endswith("log-credentials-monitor.json")
    small = ReportedEntries(str(tmp_path), "bounded")
    small.KEEP = 3
    many = entries([f"2026-11-29T09:00:0{n}Z crit: A[{n}]" for n in range(6)])
    small.sort_out(many)
    import json
    assert len(json.loads(open(small.path).read())["reported"]) == 3
