# Two buckets, not one with prefixes: the handler can never trigger itself, and IAM stays simple.

resource "aws_s3_bucket" "input" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice per deployment, not a default.
  # checkov:skip=CKV_AWS_18: access logs need a separate log bucket; CloudTrail data events are the account-wide choice.
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES-256) at rest; SSE-KMS would put a KMS call and quota on every upload burst.
  bucket        = local.input_bucket
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = !(var.deletion_protection && var.force_destroy)
      error_message = "force_destroy empties the buckets on destroy: set deletion_protection = false first (never in production)."
    }
  }
}

resource "aws_s3_bucket" "output" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice per deployment, not a default.
  # checkov:skip=CKV_AWS_18: access logs need a separate log bucket; CloudTrail data events are the account-wide choice.
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES-256) at rest; SSE-KMS would put a KMS call and quota on every upload burst.
  # checkov:skip=CKV2_AWS_62: nothing consumes events of renditions; results go out on the SNS results topic.
  # checkov:skip=CKV_AWS_21: renditions are derived data, rebuilt from the inputs; versions would only cost money.
  bucket        = local.output_bucket
  force_destroy = var.force_destroy
}

# What every bucket of the stack has alike, one entry per bucket: no public access, SSE-S3 at rest, a policy that
# refuses plain HTTP (below). Versioning: the inputs (an overwrite or delete can be undone) and the artifacts (each
# function pins the exact package version it runs; a rollback is one apply away), not the renditions (derived data,
# rebuilt from the inputs: versions of them would only cost money).
locals {
  buckets = {
    input     = { bucket = aws_s3_bucket.input, versioning = "Enabled" }
    output    = { bucket = aws_s3_bucket.output, versioning = "Suspended" }
    artifacts = { bucket = aws_s3_bucket.artifacts, versioning = "Enabled" }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.bucket.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value.bucket.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = each.value.bucket.id
  versioning_configuration {
    status = each.value.versioning
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = local.buckets
  bucket     = each.value.bucket.id
  policy     = data.aws_iam_policy_document.bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Each was one resource per bucket: moved, not destroyed and made again.
moved {
  from = aws_s3_bucket_public_access_block.input
  to   = aws_s3_bucket_public_access_block.this["input"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.input
  to   = aws_s3_bucket_server_side_encryption_configuration.this["input"]
}

moved {
  from = aws_s3_bucket_versioning.input
  to   = aws_s3_bucket_versioning.this["input"]
}

moved {
  from = aws_s3_bucket_policy.input
  to   = aws_s3_bucket_policy.this["input"]
}

moved {
  from = aws_s3_bucket_public_access_block.output
  to   = aws_s3_bucket_public_access_block.this["output"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.output
  to   = aws_s3_bucket_server_side_encryption_configuration.this["output"]
}

moved {
  from = aws_s3_bucket_versioning.output
  to   = aws_s3_bucket_versioning.this["output"]
}

moved {
  from = aws_s3_bucket_policy.output
  to   = aws_s3_bucket_policy.this["output"]
}

moved {
  from = aws_s3_bucket_public_access_block.artifacts
  to   = aws_s3_bucket_public_access_block.this["artifacts"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.artifacts
  to   = aws_s3_bucket_server_side_encryption_configuration.this["artifacts"]
}

moved {
  from = aws_s3_bucket_versioning.artifacts
  to   = aws_s3_bucket_versioning.this["artifacts"]
}

moved {
  from = aws_s3_bucket_policy.artifacts
  to   = aws_s3_bucket_policy.this["artifacts"]
}

resource "aws_s3_bucket_lifecycle_configuration" "input" {
  bucket = aws_s3_bucket.input.id

  rule {
    id     = "expire-originals"
    status = "Enabled"
    filter {
      prefix = var.input_prefix
    }
    expiration {
      days = var.retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this["input"]]
}

resource "aws_s3_bucket_lifecycle_configuration" "output" {
  bucket = aws_s3_bucket.output.id

  # Renditions die with their original (same retention_days as the originals and the items), and never move to
  # an archive class: the API serves them with presigned GETs, which an archived object answers with 403.
  rule {
    id     = "expire-renditions"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Every bucket of the stack refuses plain HTTP; the output bucket also lets the CDN read (below).
data "aws_iam_policy_document" "bucket" {
  for_each = { for name, b in local.buckets : name => b.bucket.arn }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # CloudFront (this distribution only) reads renditions through origin access control.
  dynamic "statement" {
    for_each = each.key == "output" && var.cdn_enabled ? [1] : []
    content {
      sid       = "CloudFrontReadsRenditions"
      actions   = ["s3:GetObject"]
      resources = ["${each.value}/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [aws_cloudfront_distribution.renditions[0].arn]
      }
    }
  }
}

resource "aws_s3_bucket_notification" "input" {
  bucket = aws_s3_bucket.input.id

  queue {
    id            = "images-to-queue"
    queue_arn     = aws_sqs_queue.this["jobs"].arn
    events        = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    filter_prefix = var.input_prefix
  }

  # S3 checks that it may send to the queue when the notification is created.
  depends_on = [aws_sqs_queue_policy.this]
}
