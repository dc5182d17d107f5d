resource "aws_sns_topic" "results" {
  name              = "${var.name_prefix}-results"
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_sns_topic" "alerts" {
  name              = local.alerts_topic
  kms_master_key_id = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "AllowAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}
