"""Stage 1, the configuration: what a run is asked to check, settled before any check.

    settings   every setting declared once (name, default = the manual's value, parser); precedence and validation
    targets    the fleet: a targets file, one target's resolved settings each
    markers    what a check declares on itself: severity, schedules, Level 3, its title with the values filled in
    manual     the operations manual's lines, which a check's ``manual`` marker names
"""
