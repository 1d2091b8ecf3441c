"""S3 fixture: buckets and objects on the moto server, reached through the standard env."""

from __future__ import annotations

import hashlib
import os

import boto3


def test_put_and_get_object_with_plain_boto3(s3):
    bucket = s3.create_bucket("support-objects")
    # A client built with no arguments, as user code would: endpoint and keys from the env.
    client = boto3.client("s3")
    assert client.meta.endpoint_url == os.environ["AWS_ENDPOINT_URL_S3"] == s3.endpoint_url
    payload = os.urandom(256 * 1024)
    client.put_object(Bucket=bucket, Key="dir/blob.bin", Body=payload)
    got = client.get_object(Bucket=bucket, Key="dir/blob.bin")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/blob.bin"]


def test_create_bucket_is_idempotent(s3):
    assert s3.create_bucket("support-twice") == s3.create_bucket("support-twice")
    names = [b["Name"] for b in s3.client().list_buckets()["Buckets"]]
    assert names.count("support-twice") == 1


def test_snapshot_and_restore_survive_a_server_restart(component_log_dir, tmp_path):
    """`make up` keeps artifacts across `make down` although moto holds them in memory."""
    from podlab.localstack.process import free_port
    from podlab.localstack.s3 import S3Server

    odd_keys = ["a/b.txt", "with space/and ünïcode", "trailing/", "../not-a-path", "x" * 300]
    first = S3Server(component_log_dir / "s3-snapshot-1", free_port()).start()
    try:
        first.create_bucket("snap-artifacts")
        first.create_bucket("snap-empty")
        for index, key in enumerate(odd_keys):
            first.client().put_object(Bucket="snap-artifacts", Key=key, Body=bytes([index]) * 1000)
        assert first.snapshot(tmp_path / "snapshot") == len(odd_keys)
    finally:
        first.stop()

    second = S3Server(component_log_dir / "s3-snapshot-2", free_port()).start()
    try:
        assert second.restore(tmp_path / "snapshot") == len(odd_keys)
        client = second.client()
        assert {b["Name"] for b in client.list_buckets()["Buckets"]} == {
            "snap-artifacts",
            "snap-empty",
        }
        for index, key in enumerate(odd_keys):
            body = client.get_object(Bucket="snap-artifacts", Key=key)["Body"].read()
            assert body == bytes([index]) * 1000
        # A second snapshot replaces the first atomically (no leftovers from the old one).
        client.delete_object(Bucket="snap-artifacts", Key="a/b.txt")
        assert second.snapshot(tmp_path / "snapshot") == len(odd_keys) - 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot"]
    finally:
        second.stop()


def test_restore_of_a_missing_snapshot_is_a_no_op(s3_server, tmp_path):
    assert s3_server.restore(tmp_path / "never-written") == 0
