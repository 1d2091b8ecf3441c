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
