resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  message_retention_seconds = 1209600 # 14 days: time for an operator to look and redrive
  sqs_managed_sse_enabled   = true
}

# The work queues, one entry each: the jobs S3 sends, and the deferred variants (AVIF), the processor's own jobs,
# consumed by the same function at a lower concurrency. Same visibility and DLQ (the handler tells the two kinds of
# message apart by their body). Only the jobs queue has a policy (for S3); the function sends variants by its role.
locals {
  work_queues = {
    jobs     = local.queue_name
    variants = local.variants_name
  }
}

resource "aws_sqs_queue" "this" {
  for_each                   = local.work_queues
  name                       = each.value
  visibility_timeout_seconds = local.visibility_s
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Both were single resources: moved, not destroyed and made again (a queue made again loses its messages).
moved {
  from = aws_sqs_queue.this
  to   = aws_sqs_queue.this["jobs"]
}

moved {
  from = aws_sqs_queue.variants
  to   = aws_sqs_queue.this["variants"]
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [for q in aws_sqs_queue.this : q.arn]
  })
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "AllowInputBucket"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["jobs"].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.input.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this["jobs"].id
  policy    = data.aws_iam_policy_document.queue.json
}
