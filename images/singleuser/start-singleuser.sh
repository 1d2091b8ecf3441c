#!/bin/sh
# The start command of the podlab single-user images (their CMD; KubeSpawner uses it as is).
#
# 1. Writes the integration config (Spark, Trino/Presto CLI, git identity) into $HOME from
#    the PODLAB_* environment the hub set: the same startup code as the local spawner
#    (hub/src/podlab/startup.py, copied into the image), idempotent, keeping user edits, one
#    log line per file on stderr (the pod log). A failure there never stops the server.
# 2. Replaces itself with jupyterhub-singleuser, passing its arguments on.
#
# PODLAB_STARTUP=off skips step 1; PODLAB_STARTUP_SCRIPT points at another copy (tests).
set -eu

script=${PODLAB_STARTUP_SCRIPT:-/usr/local/lib/podlab/startup.py}
if [ "${PODLAB_STARTUP:-on}" = off ]; then
  echo "start-singleuser: PODLAB_STARTUP=off, not writing integration config" >&2
elif [ ! -f "$script" ]; then
  echo "start-singleuser: $script is missing, not writing integration config" >&2
else
  python3 "$script" || echo "start-singleuser: $script exited $?; starting the server anyway" >&2
fi

exec jupyterhub-singleuser "$@"
