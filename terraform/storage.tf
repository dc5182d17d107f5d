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

resource "aws_s3_bucket_public_access_block" "input" {
  bucket                  = aws_s3_bucket.input.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "output" {
  bucket                  = aws_s3_bucket.output.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "input" {
  bucket = aws_s3_bucket.input.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "output" {
  bucket = aws_s3_bucket.output.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "input" {
  bucket = aws_s3_bucket.input.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "output" {
  bucket = aws_s3_bucket.output.id
  versioning_configuration {
    # Renditions are derived data, rebuilt from the inputs; versions of them would only cost money.
    status = "Suspended"
  }
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

  depends_on = [aws_s3_bucket_versioning.input]
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
  for_each = {
    input     = aws_s3_bucket.input.arn
    output    = aws_s3_bucket.output.arn
    artifacts = aws_s3_bucket.artifacts.arn
  }

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

resource "aws_s3_bucket_policy" "input" {
  bucket     = aws_s3_bucket.input.id
  policy     = data.aws_iam_policy_document.bucket["input"].json
  depends_on = [aws_s3_bucket_public_access_block.input]
}

resource "aws_s3_bucket_policy" "output" {
  bucket     = aws_s3_bucket.output.id
  policy     = data.aws_iam_policy_document.bucket["output"].json
  depends_on = [aws_s3_bucket_public_access_block.output]
}

resource "aws_s3_bucket_notification" "input" {
  bucket = aws_s3_bucket.input.id

  queue {
    id            = "images-to-queue"
    queue_arn     = aws_sqs_queue.this.arn
    events        = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    filter_prefix = var.input_prefix
  }

  # S3 checks that it may send to the queue when the notification is created.
  depends_on = [aws_sqs_queue_policy.this]
}
