"""Stage 3, the outcomes: what each check found, as one model every output reads.

    run           the run's model (each check's outcome, severity, message, measured value) and how it is built
    waivers       accepted findings, each with a reason and an end date
    reachability  one headline for an unreachable target; what depended on it is "not checked"
    trends        the values a check declares as a trend, for the history's charts
"""
