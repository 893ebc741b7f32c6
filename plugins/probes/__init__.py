"""Probes: how the suite looks at the target (HTTP, Docker, files in the container, the host)."""
