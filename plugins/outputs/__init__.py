"""Stage 4, the outputs: what a run leaves behind, written in order by plugins/pipeline.py.

    alerting    alerts to the channels (plan, hold, deliver, keep)
    results     the results file (``latest.json``), for machines
    record      the HTML record (pytest-html), for auditors
    history     the history: every run's line, the hash chain, trends, retention
    prometheus  a textfile for node_exporter
    files       atomic writes, the state folder
"""
