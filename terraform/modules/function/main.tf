# One Lambda function as this stack deploys each of its two: log group, role with its inline policy and X-Ray,
# the function itself. What differs between them (handler, limits, environment, policy) comes in as variables.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158: the logs hold keys, sizes, statuses and reasons, never image content; CloudWatch encrypts them at rest.
  # checkov:skip=CKV_AWS_338: operational logs; retention is the log_retention_days variable (30 days by default).
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-policy"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

# X-Ray segments cannot be scoped to a resource; AWS's managed policy is the narrow way to allow them.
resource "aws_iam_role_policy_attachment" "xray" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_117: the function only calls AWS APIs; a VPC would add NAT cost and protect nothing.
  # checkov:skip=CKV_AWS_116: fed by SQS (whose redrive policy is the DLQ) or called by API Gateway (which returns its errors).
  # checkov:skip=CKV_AWS_272: code signing needs a signing profile outside this stack; the zip hash is pinned.
  # checkov:skip=CKV_AWS_173: the environment holds only resource names and limits, no secrets.
  # checkov:skip=CKV_AWS_115: the processor's concurrency is bounded by its mapping, the API's by the stage's throttling.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  s3_bucket                      = var.package.bucket
  s3_key                         = var.package.key
  s3_object_version              = var.package.version
  source_code_hash               = var.package.sha256_b64
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_s
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}
