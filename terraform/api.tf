# The upload API: API Gateway HTTP API -> a second function (pipeline.api.handler) from the same zip.

locals {
  api_function_name = "${var.name_prefix}-api"
  api_routes        = ["POST /uploads", "GET /images/{id}", "GET /images"]
}

resource "aws_cloudwatch_log_group" "api" {
  # checkov:skip=CKV_AWS_158: the logs hold keys and statuses, never image content; CloudWatch encrypts them at rest.
  # checkov:skip=CKV_AWS_338: operational logs; retention is the log_retention_days variable (30 days by default).
  name              = "/aws/lambda/${local.api_function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "api_access" {
  # checkov:skip=CKV_AWS_158: access logs hold request ids, routes and statuses only; encrypted at rest by CloudWatch.
  # checkov:skip=CKV_AWS_338: operational logs; retention is the log_retention_days variable (30 days by default).
  name              = "/aws/apigateway/${local.api_function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "api" {
  # checkov:skip=CKV_AWS_117: the function only calls AWS APIs; a VPC would add NAT cost and protect nothing.
  # checkov:skip=CKV_AWS_116: called synchronously by API Gateway, which returns its errors to the caller.
  # checkov:skip=CKV_AWS_272: code signing needs a signing profile outside this stack; the zip hash is pinned.
  # checkov:skip=CKV_AWS_173: the environment holds only resource names and limits, no secrets.
  # checkov:skip=CKV_AWS_115: the stage's throttling bounds its concurrency (api_throttle_rate).
  function_name    = local.api_function_name
  description      = "imgpipe: presigned uploads and image status"
  role             = aws_iam_role.api.arn
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  handler          = "pipeline.api.handler"
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = 10

  environment {
    variables = {
      ENVIRONMENT             = var.environment
      NAME_PREFIX             = var.name_prefix
      INPUT_BUCKET            = aws_s3_bucket.input.bucket
      OUTPUT_BUCKET           = aws_s3_bucket.output.bucket
      INPUT_PREFIX            = var.input_prefix
      TABLE_NAME              = aws_dynamodb_table.this.name
      STATUS_INDEX            = local.status_index
      MAX_BYTES               = tostring(var.max_bytes)
      LOG_LEVEL               = var.log_level
      POWERTOOLS_SERVICE_NAME = "imgpipe-api"
    }
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.api, aws_iam_role_policy.api]

  lifecycle {
    precondition {
      # A JWT authorizer without an issuer fails at apply; without an audience it would accept any client's token.
      condition     = var.api_auth != "jwt" || (var.jwt_issuer != null && length(var.jwt_audience) > 0)
      error_message = "api_auth = \"jwt\" needs jwt_issuer and at least one jwt_audience."
    }
  }
}

resource "aws_apigatewayv2_api" "this" {
  count         = var.http_api_enabled ? 1 : 0
  name          = local.api_function_name
  protocol_type = "HTTP"

  cors_configuration {
    allow_origins = [var.cors_allow_origin]
    allow_methods = ["GET", "POST"]
    allow_headers = ["authorization", "content-type", "x-amz-date", "x-amz-security-token"]
    max_age       = 300
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.http_api_enabled && var.api_auth == "jwt" ? 1 : 0
  api_id           = aws_apigatewayv2_api.this[0].id
  name             = "${local.api_function_name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "this" {
  count                  = var.http_api_enabled ? 1 : 0
  api_id                 = aws_apigatewayv2_api.this[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.api.invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "this" {
  for_each           = var.http_api_enabled ? toset(local.api_routes) : toset([])
  api_id             = aws_apigatewayv2_api.this[0].id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.this[0].id}"
  authorization_type = var.api_auth == "jwt" ? "JWT" : "AWS_IAM"
  authorizer_id      = var.api_auth == "jwt" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_apigatewayv2_stage" "this" {
  count       = var.http_api_enabled ? 1 : 0
  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.api_throttle_rate
    throttling_burst_limit = var.api_throttle_rate * 2
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId = "$context.requestId", route = "$context.routeKey", status = "$context.status",
      ip        = "$context.identity.sourceIp", latencyMs = "$context.responseLatency"
    })
  }
}

resource "aws_lambda_permission" "api" {
  count         = var.http_api_enabled ? 1 : 0
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this[0].execution_arn}/*/*"
}

# Browsers POST uploads straight to the input bucket from the allowed origin.
resource "aws_s3_bucket_cors_configuration" "input" {
  bucket = aws_s3_bucket.input.id
  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = [var.cors_allow_origin]
    allowed_headers = ["*"]
    max_age_seconds = 300
  }
}
