#!/bin/sh
# Write .env for docker-compose.yml from .env.example, with a fresh random value for every
# secret and AIRFLOW_UID set to your user, and grassroots' secret files under ./secrets/
# (mounted by docker-compose.yml into the task-running services only). Everything is
# created readable by you only. Never replaces a file that exists; fails when there is
# nothing left to create.
#
# A .env from before ./secrets/ existed still holds GRASSROOTS_HMAC_SECRET, WAREHOUSE_PASSWORD
# and GRASSROOTS_BI_PASSWORD: their values are moved into the files (the person keys and the
# warehouse volume keep working); then delete those lines from .env.
set -eu
cd "$(dirname "$0")/.."
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
# Airflow's Fernet key: 32 random bytes, url-safe base64
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }
# the last value of a variable in an existing .env, or nothing
old_value() { [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1 || true; }
umask 077
created=""
if [ ! -e .env ]; then
    while IFS= read -r line; do
        case "$line" in
            AIRFLOW_UID=*) echo "AIRFLOW_UID=$(id -u)" ;;
            AIRFLOW_FERNET_KEY=) echo "AIRFLOW_FERNET_KEY=$(fernet_key)" ;;
            *_PASSWORD= | *_SECRET= | *_SECRET_KEY=) echo "${line}$(random_hex)" ;;
            *) echo "$line" ;;
        esac
    done < .env.example > .env
    created="$created .env"
fi
mkdir -p secrets
# git ignores the folder's content whatever the repository's .gitignore says
[ -e secrets/.gitignore ] || printf '*\n' > secrets/.gitignore
# secret FILE OLD_VARIABLE: write secrets/FILE from OLD_VARIABLE of .env, else a random value
secret() {
    [ -e "secrets/$1" ] && return 0
    value=$(old_value "$2")
    printf '%s\n' "${value:-$(random_hex)}" > "secrets/$1"
    created="$created secrets/$1"
}
secret hmac_secret GRASSROOTS_HMAC_SECRET
secret bi_password GRASSROOTS_BI_PASSWORD
secret warehouse_password WAREHOUSE_PASSWORD
if [ ! -e secrets/warehouse_dsn ]; then
    # the warehouse-db service's login (POSTGRES_USER, POSTGRES_DB in docker-compose.yml)
    printf 'postgresql://grassroots:%s@warehouse-db:5432/grassroots\n' "$(cat secrets/warehouse_password)" \
        > secrets/warehouse_dsn
    created="$created secrets/warehouse_dsn"
fi
if [ -z "$created" ]; then
    echo ".env and every file in secrets/ exist already; edit them by hand or remove them first" >&2
    exit 1
fi
echo "wrote (mode 600):$created"
echo "the admin password for the Airflow UI is AIRFLOW_ADMIN_PASSWORD in .env"
