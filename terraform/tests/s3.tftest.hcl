# s3 module: SSE-KMS, versioning, public access blocked, insecure transport denied, noncurrent
# versions expire.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name = "podlab"
}

run "s3_buckets_locked_down" {
  command = plan

  module {
    source = "./modules/s3"
  }

  assert {
    condition     = toset(keys(aws_s3_bucket.this)) == toset(["artifacts", "shared"])
    error_message = "an artifacts and a shared bucket are expected"
  }

  assert {
    condition     = output.artifacts_bucket == "podlab-artifacts-123456789012-us-east-1"
    error_message = "bucket names are <name>-<purpose>-<account>-<region>"
  }

  assert {
    condition = alltrue([for b in aws_s3_bucket_public_access_block.this :
    b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "public access must be blocked on every bucket"
  }

  assert {
    condition = alltrue([for e in aws_s3_bucket_server_side_encryption_configuration.this :
      alltrue([for r in e.rule : alltrue([for d in r.apply_server_side_encryption_by_default : d.sse_algorithm == "aws:kms"])])
    ])
    error_message = "every bucket must use SSE-KMS"
  }

  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"])
    error_message = "every bucket must be versioned"
  }

  assert {
    condition = alltrue([for d in data.aws_iam_policy_document.bucket : anytrue([
      for s in d.statement : s.effect == "Deny" && contains(s.actions, "s3:*") && anytrue([
        for c in s.condition : c.variable == "aws:SecureTransport" && toset(c.values) == toset(["false"])
      ])
    ])])
    error_message = "every bucket policy must deny requests without TLS"
  }

  assert {
    condition = alltrue([for l in aws_s3_bucket_lifecycle_configuration.this : anytrue([
      for r in l.rule : r.status == "Enabled" && length(r.noncurrent_version_expiration) == 1
    ])])
    error_message = "noncurrent versions must expire"
  }

  assert {
    condition     = module.key.rotation_enabled
    error_message = "the bucket key must rotate"
  }
}
