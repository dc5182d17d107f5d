# The deployment package, uploaded once: both functions run this one object (same bytes, one upload per change).

resource "aws_s3_bucket" "artifacts" {
  # checkov:skip=CKV_AWS_144: the package is rebuilt from the repository at any time; replicating it protects nothing.
  # checkov:skip=CKV_AWS_18: only terraform writes here and Lambda reads here; CloudTrail records both.
  # checkov:skip=CKV2_AWS_62: nothing consumes events of deployment packages.
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES-256); the package holds code, not data.
  bucket        = local.artifacts_bucket
  force_destroy = true # only deployment packages, all rebuilt from the repository
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "expire-old-packages"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.this["artifacts"]]
}

resource "aws_s3_object" "package" {
  bucket      = aws_s3_bucket.artifacts.id
  key         = "lambda/${filesha256(var.lambda_zip_path)}.zip"
  source      = var.lambda_zip_path
  source_hash = filemd5(var.lambda_zip_path)
  depends_on  = [aws_s3_bucket_versioning.this["artifacts"]]
}
