# The upload API: API Gateway HTTP API -> a second function (pipeline.api.handler) from the same zip.

locals {
  api_function_name = "${var.name_prefix}-api"
  api_routes        = ["POST /uploads", "GET /images/{id}", "GET /images"]
}

resource "aws_cloudwatch_log_group" "api_access" {
  # checkov:skip=CKV_AWS_158: access logs hold request ids, routes and statuses only; encrypted at rest by CloudWatch.
  # checkov:skip=CKV_AWS_338: operational logs; retention is the log_retention_days variable (30 days by default).
  name              = "/aws/apigateway/${local.api_function_name}"
  retention_in_days = var.log_retention_days
}

module "api" {
  source = "./modules/function"

  name               = local.api_function_name
  description        = "imgpipe: presigned uploads and image status"
  handler            = "pipeline.api.handler"
  package            = local.package
  runtime            = var.lambda_runtime
  architecture       = var.lambda_architecture
  memory_mb          = 256
  timeout_s          = 10
  policy_json        = data.aws_iam_policy_document.api.json
  log_retention_days = var.log_retention_days
  partition          = data.aws_partition.current.partition

  environment = {
    ENVIRONMENT             = var.environment
    NAME_PREFIX             = var.name_prefix
    INPUT_BUCKET            = aws_s3_bucket.input.bucket
    OUTPUT_BUCKET           = aws_s3_bucket.output.bucket
    INPUT_PREFIX            = var.input_prefix
    TABLE_NAME              = aws_dynamodb_table.this.name
    STATUS_INDEX            = local.status_index
    MAX_BYTES               = tostring(var.max_bytes)
    CDN_BASE_URL            = var.cdn_enabled ? "https://${aws_cloudfront_distribution.renditions[0].domain_name}" : ""
    LOG_LEVEL               = var.log_level
    POWERTOOLS_SERVICE_NAME = "imgpipe-api"
  }
}

moved {
  from = aws_lambda_function.api
  to   = module.api.aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.api
  to   = module.api.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.api
  to   = module.api.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.api
  to   = module.api.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.api_xray
  to   = module.api.aws_iam_role_policy_attachment.xray
}

resource "aws_apigatewayv2_api" "this" {
  count         = var.http_api_enabled ? 1 : 0
  name          = local.api_function_name
  protocol_type = "HTTP"

  cors_configuration {
    allow_origins = [var.cors_allow_origin]
    allow_methods = ["GET", "POST"]
    # What a browser's SigV4 signer (the AWS SDK for JavaScript, aws4fetch) sends: without x-amz-content-sha256
    # and the SDK's own headers the preflight fails and the browser never sends the request.
    allow_headers = [
      "authorization", "content-type", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
      "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request",
    ]
    max_age = 300
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

  lifecycle {
    precondition {
      # Without an issuer the authorizer fails at apply; without an audience it would accept any client's token.
      condition     = var.jwt_issuer != null && length(var.jwt_audience) > 0
      error_message = "api_auth = \"jwt\" needs jwt_issuer and at least one jwt_audience."
    }
  }
}

resource "aws_apigatewayv2_integration" "this" {
  count                  = var.http_api_enabled ? 1 : 0
  api_id                 = aws_apigatewayv2_api.this[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.api.invoke_arn
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
  function_name = module.api.function_name
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
