"""What the post-change gate reads, without the sandbox: the image variables as the real compose binary reads them,
the kept compose answer keyed on what compose reads, and the in-container figures of cgroup v2 and v1 hosts. The
gate itself on the sandbox: sandbox/test_change_gate.py."""


def test_image_variables_are_read_as_the_compose_binary_reads_them(tmp_path, monkeypatch):
    """The real compose binary, no sandbox: the environment wins over .env; an empty value is unset; a default, a
    required variable, ``$$`` and a variable inside a default are told apart."""
    from plugins.probes.compose import declared_images
    from plugins.probes.compose_template import variables_in
    assert variables_in("a:${TAG}") == [("TAG", False)] and variables_in("a:$TAG") == [("TAG", False)]
    assert variables_in("a:${TAG:-1}${B-2}${C:+x}${D?e}${E:?e}$$F") == [
        ("TAG", True), ("B", True), ("C", True), ("D", False), ("E", False)]
    assert variables_in("${REG:-${MIRROR}/x}:1") == [("REG", True), ("MIRROR", False)]
    (tmp_path / "docker-compose.yml").write_text(  # a typed field naming a variable loads only interpolated
        'services:\n  app:\n    image: "digitalme:${TAG}"\n    healthcheck:\n      interval: ${INTERVAL:-5s}\n'
        '  cache:\n    image: "redis:${RTAG:-7}"\n')
    (tmp_path / ".env").write_text("TAG=1.4\nRTAG=\n")
    for name in ("TAG", "RTAG"):
        monkeypatch.delenv(name, raising=False)
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")
    assert declared.images == {"app": "digitalme:1.4", "cache": "redis:7"}, declared
    assert declared.unset == {"cache": (("RTAG", True),)} and declared.env_file == str(tmp_path / ".env"), declared
    monkeypatch.setenv("TAG", "2.0")
    assert declared_images(str(tmp_path / "docker-compose.yml"), [], "p").images["app"] == "digitalme:2.0"
    monkeypatch.delenv("TAG")
    (tmp_path / ".env").write_text("")
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")
    assert declared.unset == {"app": (("TAG", False),), "cache": (("RTAG", True),)}, declared
    assert declared.raw == {"app": "digitalme:${TAG}", "cache": "redis:${RTAG:-7}"}, declared
    (tmp_path / "docker-compose.yml").write_text('services:\n  app:\n    image: "${REGISTRY:?set it}/digitalme:1"\n')
    monkeypatch.delenv("REGISTRY", raising=False)
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")  # a required variable: compose refuses
    assert declared.images is None and "required variable REGISTRY is missing a value" in declared.why_unknown
    assert declared.unset == {"app": (("REGISTRY", False),)}, declared


def test_kept_compose_answer_is_asked_again_when_the_env_file_or_a_variable_changes(tmp_path, monkeypatch):
    """The kept `config --services` answer (state/compose-services*.json) is keyed on what compose reads: a changed
    .env, a variable the file or the .env names, changes the key."""
    from plugins.probes.compose import compose_command, inputs_digest
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text('services:\n  app:\n    image: "digitalme:${TAG}"\n')
    paths, command = [str(compose_file)], [*compose_command(), "-f", str(compose_file), "config", "--services"]
    monkeypatch.delenv("TAG", raising=False)
    monkeypatch.delenv("DEPLOY_TAG", raising=False)
    keys = [inputs_digest(paths, command)]
    (tmp_path / ".env").write_text("TAG=1.4\n")
    keys.append(inputs_digest(paths, command))
    (tmp_path / ".env").write_text("TAG=${DEPLOY_TAG}\n")
    keys.append(inputs_digest(paths, command))
    monkeypatch.setenv("DEPLOY_TAG", "1.5")
    keys.append(inputs_digest(paths, command))
    monkeypatch.setenv("TAG", "1.6")
    keys.append(inputs_digest(paths, command))
    assert None not in keys and len(set(keys)) == len(keys), keys
    assert inputs_digest(paths, command) == keys[-1], "the same inputs must give the same key"


def test_inside_figures_parse_cgroup_v2_and_v1_answers():
    """The exec's answer on a cgroup v2 host (cpu.max, usage_usec) and v1 (cfs quota, cpuacct ns); this machine
    shows only one of them, so both are proven on text as the script prints it."""
    from plugins.probes.inside import parse
    common = "MemTotal:       2048000 kB\nMemAvailable:    512000 kB\nloadavg 1.50 3.00 2.00 2/300 99\nnproc 4\n"
    v2 = parse(common + "quota 200000 100000\nsample 100.00 usec 1000000\nsample 100.25 usec 1250000\n")
    assert (v2.mem_total, v2.mem_available, v2.load) == (2048000 * 1024, 512000 * 1024, (1.5, 3.0, 2.0)), v2
    assert (v2.cpus_seen, v2.cpus_allowed, v2.busy_pct, v2.load5_per_cpu_pct) == (4, 2.0, 50.0, 75.0), v2
    v1 = parse(common + "quota -1 100000\nsample 100.00 nsec 1000000000\nsample 100.50 nsec 1500000000\n")
    assert (v1.cpus_allowed, v1.busy_pct) == (4.0, 25.0), v1
    unlimited = parse(common + "quota max 100000\nsample 1.00 none 0\nsample 1.25 none 0\n")
    assert (unlimited.cpus_allowed, unlimited.busy_pct) == (4.0, None), unlimited
    # Memory as docker stats counts it (usage less inactive file cache); no limit is the machine's memory.
    limited = parse(common + "memory 300000000 268435456 100000000\n")
    assert limited.memory == (200000000, 268435456), limited
    assert parse(common + "memory 300000000 max 100000000\n").memory == (200000000, 2048000 * 1024)
    assert parse(common + "memory 300000000 9223372036854771712 0\n").memory == (300000000, 2048000 * 1024)
    assert v1.memory is None, "no memory line: docker stats is asked instead"
