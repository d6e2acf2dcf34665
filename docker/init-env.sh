#!/bin/sh
# Write .env for docker-compose.yml from .env.example, with a fresh random value for
# every secret and AIRFLOW_UID set to your user. Refuses to overwrite an existing .env.
set -eu
cd "$(dirname "$0")/.."
if [ -e .env ]; then
    echo ".env exists already; edit it by hand or remove it first" >&2
    exit 1
fi
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
# Airflow's Fernet key: 32 random bytes, url-safe base64
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }
umask 077
while IFS= read -r line; do
    case "$line" in
        AIRFLOW_UID=*) echo "AIRFLOW_UID=$(id -u)" ;;
        AIRFLOW_FERNET_KEY=) echo "AIRFLOW_FERNET_KEY=$(fernet_key)" ;;
        *_PASSWORD= | *_SECRET= | *_SECRET_KEY=) echo "${line}$(random_hex)" ;;
        *) echo "$line" ;;
    esac
done < .env.example > .env
echo "wrote .env (mode 600); the admin password for the Airflow UI is AIRFLOW_ADMIN_PASSWORD in it"
