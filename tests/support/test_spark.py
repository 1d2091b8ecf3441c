"""Spark fixture: a driver process counts 100,000 rows on the standalone cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap

DRIVER = textwrap.dedent(
    """
    import sys
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(sys.argv[1]).appName("podlab-support")
             .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false")
             .config("spark.executor.memory", "1g").getOrCreate())
    try:
        count = spark.range(100_000).filter("id % 2 = 0").union(
            spark.range(100_000).filter("id % 2 = 1")).count()
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
        print(f"COUNT={count} EXECUTORS={executors}")
    finally:
        spark.stop()
    """
)


def test_spark_job_counts_rows_on_the_standalone_cluster(spark_cluster):
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, spark_cluster.master_url],
        env=spark_cluster.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "COUNT=100000" in result.stdout
    # The driver plus at least one executor on the worker: the job ran on the cluster.
    executors = int(result.stdout.split("EXECUTORS=")[1].split()[0])
    assert executors >= 2, result.stdout
