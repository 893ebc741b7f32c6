"""The disk check's filesystems from `df -P -T -k` (plugins/probes/host.py real_filesystems): pseudo filesystems
left out, each device judged once. Manual: Resource Monitoring, Disk Usage (`df -h`)."""


def test_a_device_is_judged_once_at_its_first_mount():
    """A starting container's bind mount (seen once in a fleet run) named the root device again, under
    /var/lib/docker: the disk check listed it as a second filesystem."""
    from plugins.probes.host import real_filesystems
    df = """Filesystem Type 1024-blocks Used Available Capacity Mounted on
tmpfs tmpfs 24683772 0 24683772 0% /dev/shm
/dev/vda ext4 1000 830 170 83% /
/dev/vda ext4 1000 830 170 83% /var/lib/docker/overlay2/2520/merged/https
overlay overlay 1000 830 170 83% /var/lib/docker/overlay2/2520/merged
/dev/vdb xfs 2000 200 1800 10% /srv/backups
"""
    assert real_filesystems(df) == [("/", "ext4", 83.0, 1000), ("/srv/backups", "xfs", 10.0, 2000)]
