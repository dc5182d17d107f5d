# One customer-managed key for the table and the topics. A CMK, not the AWS-managed one, because
# CloudWatch alarms can only publish to an encrypted topic whose key policy lets them.

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_111: AWS's default key statement; without it the key could not be managed at all.
  # checkov:skip=CKV_AWS_356: in a key policy "*" means this key only.
  # checkov:skip=CKV_AWS_109: AWS's default key statement, limited to this account's root.
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # CloudWatch publishes alarm notifications to the encrypted alerts topic: without this, alarms fire silently.
  statement {
    sid       = "AlarmsUseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    # Only for this stack's alarms (every alarm name starts with the prefix), not any alarm of the account.
    # (Not by the topic's encryption context: the IAM simulator that proves these policies cannot evaluate
    # kms:EncryptionContext keys, and a condition nothing proves is a condition nothing protects.)
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:cloudwatch:${var.region}:${data.aws_caller_identity.current.account_id}:alarm:${var.name_prefix}-*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: table and topic encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
