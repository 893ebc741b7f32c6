"""Stage 3, the outcomes: what each check found, as one model every output reads.

    run             the run's model: each check's outcome, severity, message, measured value; the Run
    build           the run built from pytest's reports (and the run's start, in order: the suite's one configure)
    waivers         accepted findings, each with a reason and an end date (waivers_file: the file;
                    waivers_checks: each names a check of the suite)
    reachability    one headline for an unreachable target; what depended on it is "not checked"
    trends          the values a check declares as a trend, for the history's charts
"""
