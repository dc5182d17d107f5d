# The two functions' policies: exactly the calls each makes, on exactly its resources (proven by
# tests/terraform/test_permissions.py). The roles themselves are made by modules/function.

# The processor.
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.input.arn}/${var.input_prefix}*"]
  }

  # Without ListBucket S3 answers 403, not 404, for a key that is gone: a deleted upload would be retried into
  # the DLQ instead of ending as source_missing. No s3:prefix condition: the check S3 makes for a missing key
  # carries no prefix, so a prefix-scoped grant still answers 403 (tests/terraform/test_permissions.py).
  statement {
    sid       = "ListUploads"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.input.arn]
  }

  statement {
    sid = "WriteRenditions"
    # DeleteObject: renditions of a deleted source, or of a version replaced in another format, are removed.
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.output.arn}/*"]
  }

  statement {
    sid       = "ImageItems"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  statement {
    sid       = "SamePicture"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.this.arn}/index/${local.phash_index}"]
  }

  # The operator's CMYK profile, when it is an S3 object: that object only.
  dynamic "statement" {
    for_each = startswith(var.cmyk_profile, "s3://") ? [replace(var.cmyk_profile, "s3://", "")] : []
    content {
      sid       = "ReadCmykProfile"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value}"]
    }
  }

  # A deleted source's renditions, and a replaced version's, are invalidated at the edge: this distribution only.
  dynamic "statement" {
    for_each = var.cdn_enabled ? [1] : []
    content {
      sid       = "ForgetDeletedRenditions"
      actions   = ["cloudfront:CreateInvalidation"]
      resources = [aws_cloudfront_distribution.renditions[0].arn]
    }
  }

  # Results only: operator alerts come from the alarms, never from the handler.
  statement {
    sid       = "PublishResults"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.results.arn]
  }

  # The key only through the services that encrypt with it, never directly.
  statement {
    sid       = "EncryptedTable"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.${data.aws_partition.current.dns_suffix}"]
    }
  }

  statement {
    sid       = "EncryptedTopic"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.${data.aws_partition.current.dns_suffix}"]
    }
  }

  # What the event source mapping does as this role (AWS's list for SQS mappings); visibility is never changed.
  statement {
    sid       = "ConsumeJobs"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [for q in aws_sqs_queue.this : q.arn]
  }

  # The deferred variants (AVIF) of an image, asked for by the function itself.
  statement {
    sid       = "DeferVariants"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["variants"].arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${module.processor.log_group_arn}:*"]
  }
}

# The API signs URLs: a presigned POST carries the signer's right to put where it signs (web/ under the input
# prefix), a presigned GET its right to read renditions. It reads items and lists them through the status index.
data "aws_iam_policy_document" "api" {
  statement {
    sid       = "PresignUploads"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.input.arn}/${var.input_prefix}web/*"]
  }

  # Only without the CDN: with it, the API hands out CloudFront URLs and signs no reads.
  dynamic "statement" {
    for_each = var.cdn_enabled ? [] : [1]
    content {
      sid       = "PresignRenditions"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.output.arn}/*"]
    }
  }

  statement {
    sid       = "ReadItems"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.this.arn, "${aws_dynamodb_table.this.arn}/index/${local.status_index}"]
  }

  statement {
    sid       = "EncryptedTable"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.${data.aws_partition.current.dns_suffix}"]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${module.api.log_group_arn}:*"]
  }
}


