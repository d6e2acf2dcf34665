#!/bin/sh
# Entrypoint guard of the services that run task code (airflow-worker, airflow-cli; see
# docker-compose.yml): refuse to start unless every secret file they are given is a
# non-empty, readable file, then run the rest of the command line (Airflow's /entrypoint
# and the service's command). A missing ./secrets/<name> on the host becomes, depending on
# the Compose version, an error at container creation or an empty directory at
# /run/secrets/<name>; both stop here. Prints paths, never contents.
set -eu
missing=""
for variable in GRASSROOTS_HMAC_SECRET_FILE GRASSROOTS_BI_PASSWORD_FILE WAREHOUSE_DSN_FILE; do
    eval "path=\${$variable:-}"
    if [ -z "$path" ] || [ ! -f "$path" ] || [ ! -r "$path" ] || [ ! -s "$path" ]; then
        missing="$missing $variable=${path:-(unset)}"
    fi
done
if [ -n "$missing" ]; then
    echo "refusing to start: secret file missing, empty or unreadable:$missing" >&2
    echo "on the host, in the repository, run: sh docker/init-env.sh" >&2
    exit 78
fi
exec "$@"
