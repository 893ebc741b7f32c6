#!/bin/bash
# DigitalMe Health Monitor
# Run every 5 minutes via cron
#
# The operations manual's /opt/digitalme/monitor.sh, verbatim logic, for scripts/benchmark.py. Changes: the
# compose file is sandbox/docker-compose.production.yml, and LOG_FILE is a temporary file (MONITOR_LOG_FILE, set
# by the benchmark) instead of /var/log/digitalme-monitor.log. The benchmark runs a copy with the manual's project,
# container and URLs replaced by the sandbox's (scripts/benchmark.py), so it never looks at a real deployment.

LOG_FILE="${MONITOR_LOG_FILE:-$(mktemp -t digitalme-monitor.XXXXXX.log)}"
TIMESTAMP=$(date '+%Y-%m-%d %H:%M:%S')

# Function to log with timestamp
log() {
    echo "[$TIMESTAMP] $1" >> $LOG_FILE
}

# Check container status
if ! docker-compose -f sandbox/docker-compose.production.yml -p digitalme ps | grep -q "Up"; then
    log "ERROR: Container not running"
    # Send alert here
    exit 1
fi

# Check health endpoint
if ! curl -f -s http://localhost/health > /dev/null; then
    log "ERROR: Health check failed"
    # Send alert here
    exit 1
fi

# Check database
if ! docker exec digitalme-digitalme-1 test -f /app/data/digitalme.db; then
    log "ERROR: Database file missing"
    # Send alert here
    exit 1
fi

log "INFO: All health checks passed"
