#!/usr/bin/env bash
# The operations manual's "Morning Health Check (Daily - 09:00)", its six commands verbatim, run as a script
# for scripts/benchmark.py. Only change: the compose file lives in sandbox/ here, and the compose project is
# named (-p digitalme) since the file's folder is not called digitalme. scripts/benchmark.py runs a copy with the
# manual's project, container and URLs replaced by the sandbox's, so it never looks at a real deployment.

# 1. Check container status
docker-compose -f sandbox/docker-compose.production.yml -p digitalme ps

# 2. Verify application health
curl -f http://localhost/health
curl -f http://localhost/info

# 3. Check SSL status (if applicable)
curl -k https://localhost/health

# 4. Verify database accessibility
docker exec digitalme-digitalme-1 ls -la /app/data/

# 5. Check backup status
docker exec digitalme-digitalme-1 ls -la /app/backups/ | tail -5
