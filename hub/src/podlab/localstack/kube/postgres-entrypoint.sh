#!/usr/bin/env bash
# The official postgres image's docker-entrypoint.sh, as far as podlab's chart uses it; the pod
# runner runs it in place of the image (stand_ins.py). On an empty $PGDATA: initdb with
# POSTGRES_USER and POSTGRES_PASSWORD, trust on the Unix socket and password (scram-sha-256)
# authentication over TCP, POSTGRES_DB, then the
# /docker-entrypoint-initdb.d scripts, once, against a server that listens on its Unix socket
# only; then `exec "$@"` (postgres, listening on every address of the pod).
set -Eeuo pipefail

first=${1:-}
if [ "${first:0:1}" = - ]; then
  set -- postgres "$@"
fi
if [ "${1:-}" = postgres ]; then
  : "${POSTGRES_USER:=postgres}" "${PGDATA:?PGDATA must be set}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
      echo "Error: Database is uninitialized and superuser password is not specified." >&2
      echo "       Set POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
      exit 1
    fi
    # The image trusts 127.0.0.1 (initdb's default): in a pod that is the pod itself, on the
    # test bed every connection from outside the pod arrives from 127.0.0.1 too, so TCP asks
    # for the password everywhere here.
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
      --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    database=${POSTGRES_DB:-$POSTGRES_USER}
    if [ "$database" != postgres ]; then
      psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname postgres \
        --set db="$database" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh)
          echo "$0: running $f"
          # shellcheck source=/dev/null
          if [ -x "$f" ]; then "$f"; else . "$f"; fi
          ;;
        *.sql)
          echo "$0: running $f"
          psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password \
            --dbname "$database" -f "$f"
          ;;
        *) echo "$0: ignoring $f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
  fi
fi
exec "$@"
