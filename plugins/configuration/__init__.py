"""Stage 1, the configuration: what a run is asked to check, settled before any check.

    stage         the options, and settle(): the settings, then the targets (once, first of the run's start)
    settings      every setting declared once (name, default = the manual's value, parser); the resolved Settings
    parsers       a setting's text made its value (window: the maintenance window's)
    resolve       precedence (command line > environment > pytest.ini > default) and validation, exit 4
    targets       the fleet: one target's resolved settings each, its testinfra host, stable check ids
    targets_file  the targets file, read into Targets (toml: the one TOML reader, for the waivers file too)
    markers       what a check declares on itself: severity, schedules (schedules), Level 3, its title's values
    manual        the operations manual's lines, which a check's ``manual`` marker names
"""
