"""What a user server needs to reach S3, SQL, Spark, MLflow and git: environment variables.

Both spawners put exactly this environment on the user server; the startup script
(`podlab.startup`, run on every server start in the image and by the local spawner) turns
the `PODLAB_*` variables into the files standard clients read (spark-defaults.conf, the Trino
CLI config, ~/.gitconfig). Keeping the spawner side to environment only means one code path
for Kubernetes and local, and no file in a user's home is written by the hub.
"""

from __future__ import annotations

from podlab.activity.reporter import interval_for
from podlab.config import PodlabConfig, Profile
from podlab.startup import KUBERNETES_API, SPARK_CONF_SUBDIR


def integration_env(
    config: PodlabConfig,
    profile: Profile,
    *,
    username: str,
    namespace: str,
    home: str,
    api_token: str | None = None,
    service_account: str = "default",
) -> dict[str, str]:
    """The environment of one user server (no secrets except the user's own hub token).

    `api_token` is the server's `JUPYTERHUB_API_TOKEN`; MLflow's client sends
    `MLFLOW_TRACKING_TOKEN` as a bearer token, so the two are the same value. No static AWS
    keys are ever set: on EKS the pod identity supplies credentials.
    """
    integ = config.integrations
    env: dict[str, str] = {
        "PODLAB_USER": username,
        "PODLAB_NAMESPACE": namespace,
        "PODLAB_PROFILE": profile.slug,
        "PODLAB_IMAGE": config.image_for(profile),
        "PODLAB_GPU_COUNT": str(profile.gpu_count),
        "PODLAB_IDLE_TIMEOUT": str(config.idle_timeout_for(profile)),
        "PODLAB_ACTIVITY_INTERVAL": str(interval_for(config.idle_timeout_for(profile))),
        "PODLAB_GPU_BUSY_THRESHOLD": str(config.culling.gpu_busy_threshold),
    }
    if integ.mlflow.url:
        env["MLFLOW_TRACKING_URI"] = integ.mlflow.url
        if api_token:
            env["MLFLOW_TRACKING_TOKEN"] = api_token
    s3 = integ.s3
    if s3.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = s3.region
    if s3.endpoint_url:
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint_url
    if s3.shared_bucket:
        env["PODLAB_S3_SHARED_BUCKET"] = s3.shared_bucket
        # The pod identity policy allows writes only under users/<namespace>/.
        env["PODLAB_S3_USER_PREFIX"] = f"s3://{s3.shared_bucket}/users/{namespace}/"
        env["PODLAB_S3_SHARED_PREFIX"] = f"s3://{s3.shared_bucket}/shared/"
    if integ.sql is not None:
        sql = integ.sql
        prefix = sql.engine.upper()  # TRINO_* or PRESTO_*
        env.update(
            {
                f"{prefix}_HOST": sql.host,
                f"{prefix}_PORT": str(sql.port),
                f"{prefix}_USER": username,
                f"{prefix}_HTTP_SCHEME": sql.http_scheme,
                "PODLAB_SQL_ENGINE": sql.engine,
                "PODLAB_SQL_AUTH": sql.auth,
            }
        )
        if sql.catalog:
            env[f"{prefix}_CATALOG"] = sql.catalog
        if sql.schema_name:
            env[f"{prefix}_SCHEMA"] = sql.schema_name
    if integ.spark is not None:
        spark = integ.spark
        env["SPARK_CONF_DIR"] = f"{home.rstrip('/')}/{SPARK_CONF_SUBDIR}"
        env["PODLAB_SPARK_MODE"] = spark.mode
        if spark.mode == "connect" and spark.url:
            env["SPARK_REMOTE"] = spark.url  # pyspark's builder.getOrCreate() honours it
            env["PODLAB_SPARK_URL"] = spark.url
        elif spark.mode == "standalone" and spark.url:
            env["PODLAB_SPARK_URL"] = spark.url
        elif spark.mode == "kubernetes":
            env["PODLAB_SPARK_URL"] = f"k8s://{spark.url or KUBERNETES_API}"
            env["PODLAB_SPARK_NAMESPACE"] = namespace
            env["PODLAB_SPARK_SERVICE_ACCOUNT"] = service_account
            env["PODLAB_SPARK_EXECUTOR_INSTANCES"] = str(spark.executor_instances)
            env["PODLAB_SPARK_EXECUTOR_IMAGE"] = spark.executor_image or config.image_for(profile)
    if integ.git.enabled:
        domain = integ.git.email_domain or "users.noreply.podlab"
        env["PODLAB_GIT_NAME"] = username
        # SSO usernames are often e-mail addresses already: use them as they are.
        env["PODLAB_GIT_EMAIL"] = username if "@" in username else f"{username}@{domain}"
    env["PODLAB_ENVLOGGER"] = "on" if integ.envlogger.enabled else "off"
    return env
