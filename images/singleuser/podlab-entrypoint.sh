#!/bin/bash
# ENTRYPOINT of the single-user images, under tini:
#   ENTRYPOINT ["tini", "-g", "--", "podlab-entrypoint.sh"]   CMD ["start-singleuser.sh"]
#
# - `podlab-entrypoint.sh executor`: Spark on Kubernetes (integrations.spark.mode kubernetes)
#   starts executor pods from this image (the profile's image, or spark.executor_image) with
#   this one argument and the SPARK_* environment the driver gives them. This runs the
#   executor the way the entrypoint of Spark's own image does, with the jars of the pyspark
#   package installed here (so driver and executors run the same Spark).
# - anything else runs as given: KubeSpawner uses the default CMD, start-singleuser.sh.
set -euo pipefail

spark_executor() {
  local name missing=()
  for name in SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_APPLICATION_ID \
    SPARK_EXECUTOR_POD_IP SPARK_RESOURCE_PROFILE_ID SPARK_EXECUTOR_POD_NAME SPARK_EXECUTOR_MEMORY; do
    [ -n "${!name:-}" ] || missing+=("$name")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "podlab-entrypoint.sh executor: ${missing[*]} not set. This mode is for the executor" \
      "pods Spark creates; start a session from a notebook instead." >&2
    exit 2
  fi
  local spark_home=${SPARK_HOME:-}
  if [ -z "$spark_home" ]; then
    spark_home=$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  fi
  local java=java
  if [ -n "${JAVA_HOME:-}" ]; then java=$JAVA_HOME/bin/java; fi
  local classpath="${SPARK_CLASSPATH:-}:$spark_home/jars/*"
  if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_EXTRA_CLASSPATH"; fi
  if [ -n "${HADOOP_CONF_DIR:-}" ]; then classpath="$HADOOP_CONF_DIR:$classpath"; fi
  classpath="${SPARK_CONF_DIR:-$spark_home/conf}:$classpath:$PWD"
  if [ -n "${SPARK_DIST_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_DIST_CLASSPATH"; fi
  # The driver passes its JVM options as SPARK_JAVA_OPT_0, _1, ...: keep their order.
  local -a java_opts=()
  while read -r name; do
    [ -n "$name" ] && java_opts+=("${!name}")
  done < <(compgen -e | grep '^SPARK_JAVA_OPT_[0-9]*$' | sort -t_ -k4 -n)
  exec "$java" "${java_opts[@]}" \
    -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
    -cp "$classpath" \
    org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
    --driver-url "$SPARK_DRIVER_URL" \
    --executor-id "$SPARK_EXECUTOR_ID" \
    --cores "$SPARK_EXECUTOR_CORES" \
    --app-id "$SPARK_APPLICATION_ID" \
    --hostname "$SPARK_EXECUTOR_POD_IP" \
    --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
    --podName "$SPARK_EXECUTOR_POD_NAME"
}

if [ "${1:-}" = executor ]; then
  shift
  spark_executor "$@"
fi
if [ $# -eq 0 ]; then
  echo "podlab-entrypoint.sh: nothing to run (the image's CMD is start-singleuser.sh)" >&2
  exit 2
fi
exec "$@"
