# The image processor: the module makes its log group, role (with the policy in iam.tf), X-Ray and the function.
module "processor" {
  source = "./modules/function"

  name                 = local.function_name
  description          = "imgpipe: renditions for images uploaded under ${var.input_prefix}"
  handler              = "pipeline.handler.lambda_handler"
  package              = local.package
  runtime              = var.lambda_runtime
  architecture         = var.lambda_architecture
  memory_mb            = var.lambda_memory_mb
  timeout_s            = var.lambda_timeout_s
  reserved_concurrency = var.reserved_concurrency
  policy_json          = data.aws_iam_policy_document.this.json
  log_retention_days   = var.log_retention_days
  partition            = data.aws_partition.current.partition

  # The same names Settings.from_env() reads locally.
  environment = {
    ENVIRONMENT             = var.environment
    NAME_PREFIX             = var.name_prefix
    INPUT_BUCKET            = aws_s3_bucket.input.bucket
    OUTPUT_BUCKET           = aws_s3_bucket.output.bucket
    INPUT_PREFIX            = var.input_prefix
    TABLE_NAME              = aws_dynamodb_table.this.name
    STATUS_INDEX            = local.status_index
    PHASH_INDEX             = local.phash_index
    QUEUE_NAME              = aws_sqs_queue.this["jobs"].name
    DLQ_NAME                = aws_sqs_queue.dlq.name
    RESULTS_TOPIC_ARN       = aws_sns_topic.results.arn
    ALERTS_TOPIC_ARN        = aws_sns_topic.alerts.arn
    RENDITIONS              = var.renditions
    FORMATS                 = var.formats
    DEFER_FORMATS           = var.defer_formats
    CMYK_PROFILE            = var.cmyk_profile
    VARIANTS_QUEUE_URL      = aws_sqs_queue.this["variants"].url
    MAX_BYTES               = tostring(var.max_bytes)
    MAX_PIXELS              = tostring(var.max_pixels)
    HANDLER_TIMEOUT_S       = tostring(var.lambda_timeout_s)
    VISIBILITY_TIMEOUT_S    = tostring(local.visibility_s)
    MAX_RECEIVE_COUNT       = tostring(var.max_receive_count)
    ITEM_TTL_DAYS           = tostring(var.retention_days)
    LOG_LEVEL               = var.log_level
    POWERTOOLS_SERVICE_NAME = "imgpipe"
    # Deleted and replaced renditions are invalidated there (pipeline/adapters/edge.py).
    CDN_DISTRIBUTION_ID = var.cdn_enabled ? aws_cloudfront_distribution.renditions[0].id : ""
  }
}

moved {
  from = aws_lambda_function.this
  to   = module.processor.aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.this
  to   = module.processor.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.this
  to   = module.processor.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.this
  to   = module.processor.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.xray
  to   = module.processor.aws_iam_role_policy_attachment.xray
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = aws_sqs_queue.this["jobs"].arn
  function_name                      = module.processor.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_s
  function_response_types            = ["ReportBatchItemFailures"]
  # Off only where the platform cannot run the function (LocalStack without Docker): there the local worker
  # consumes the queue instead, and an enabled mapping would take its messages and fail them into the DLQ.
  enabled = var.event_source_mapping_enabled

  scaling_config {
    maximum_concurrency = var.max_concurrency
  }

  # What plans cleanly and then fails at apply time, or breaks at run time.
  lifecycle {
    precondition {
      # AWS advises 6x the function timeout plus the batching window; less, and a message still being worked on
      # is delivered again, and a slow batch burns receives towards the DLQ. (Below the timeout AWS refuses it.)
      condition     = local.visibility_s >= 6 * var.lambda_timeout_s + var.batching_window_s
      error_message = "The queue's visibility timeout must be at least 6 x lambda_timeout_s + batching_window_s."
    }
    precondition {
      condition     = var.batch_size <= 10 || var.batching_window_s >= 1
      error_message = "batch_size over 10 needs batching_window_s of at least 1 (AWS refuses it otherwise)."
    }
    precondition {
      # Throttled invocations hand their messages back with a receive burnt: healthy jobs reach the DLQ. Both
      # mappings invoke this one function, so its reservation must cover both.
      condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= var.max_concurrency + var.variants_max_concurrency
      error_message = "reserved_concurrency must be -1 or at least max_concurrency + variants_max_concurrency; less, and throttles send good jobs to the DLQ."
    }
    precondition {
      # AWS keeps 100 executions of the account unreserved and refuses a reservation that would take them.
      condition     = var.reserved_concurrency == -1 || var.reserved_concurrency <= local.concurrency_ceiling - 100
      error_message = "reserved_concurrency ${var.reserved_concurrency} is more than this account allows (${coalesce(local.account_concurrency, 0)} concurrent executions, 100 of which stay unreserved): use -1, or ask AWS for a higher Lambda concurrency quota."
    }
    precondition {
      # A new account's quota is often 10: mappings allowed more than the account can run are throttled, and each
      # throttled batch burns a receive of maxReceiveCount = 3, so healthy images reach the DLQ.
      condition     = var.max_concurrency + var.variants_max_concurrency <= local.concurrency_ceiling
      error_message = "max_concurrency + variants_max_concurrency (${var.max_concurrency + var.variants_max_concurrency}) is more than this account's Lambda concurrency (${coalesce(local.account_concurrency, 0)}): lower them, or ask AWS for a higher quota first; throttles would send good jobs to the DLQ."
    }
  }
}

# The account's Lambda concurrency (Service Quotas), read at plan time to refuse what AWS would refuse or throttle.
# Off where Service Quotas does not answer (the emulators: tflocal sets check_account_quotas = false).
data "aws_servicequotas_service_quota" "lambda_concurrency" {
  count        = var.check_account_quotas ? 1 : 0
  service_code = "lambda"
  quota_code   = "L-B99A9384" # Concurrent executions
}

locals {
  account_concurrency = var.check_account_quotas ? data.aws_servicequotas_service_quota.lambda_concurrency[0].value : null
  # (HCL evaluates both sides of ||: a null quota becomes a ceiling nothing reaches, not a failed comparison.)
  concurrency_ceiling = coalesce(local.account_concurrency, 1000000)
}

# The deferred variants: the same function, at a concurrency that leaves new uploads theirs (AWS's minimum is 2).
resource "aws_lambda_event_source_mapping" "variants" {
  event_source_arn                   = aws_sqs_queue.this["variants"].arn
  function_name                      = module.processor.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_s
  function_response_types            = ["ReportBatchItemFailures"]
  enabled                            = var.event_source_mapping_enabled

  scaling_config {
    maximum_concurrency = var.variants_max_concurrency
  }
  # (The reservation covering both mappings is checked on the job queue's mapping.)
}
