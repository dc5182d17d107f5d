locals {
  alarm_actions = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = local.dlq_alarm_name
  alarm_description   = "Jobs are failing repeatedly and landing in the dead-letter queue"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "The image handler raised errors (whole invocations failed)"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.processor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Either function throttled: the processor's jobs wait (and use receives), the API's callers get errors.
locals {
  throttle_alarms = {
    processor = { function = module.processor.function_name, description = "The image handler is being throttled" }
    api       = { function = module.api.function_name, description = "The upload API's function is being throttled" }
  }
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each            = local.throttle_alarms
  alarm_name          = "${each.value.function}-throttles"
  alarm_description   = each.value.description
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The processor's alarm was a single resource: moved, not destroyed and made again.
moved {
  from = aws_cloudwatch_metric_alarm.throttles
  to   = aws_cloudwatch_metric_alarm.throttles["processor"]
}

# How long the oldest message of each queue has waited. The deferred variants wait behind new uploads by design (a
# lower concurrency), but not for hours: past their bound images stay "AVIF coming" (raise variants_max_concurrency).
locals {
  queue_age_alarms = {
    jobs = {
      threshold   = var.oldest_message_alarm_s
      description = "Jobs are waiting too long: the pipeline is falling behind"
    }
    variants = {
      threshold   = var.variants_oldest_message_alarm_s
      description = "Deferred variants (AVIF) are waiting too long: images stay incomplete"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each            = local.queue_age_alarms
  alarm_name          = "${aws_sqs_queue.this[each.key].name}-oldest-message"
  alarm_description   = each.value.description
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The jobs' alarm was a single resource: moved, not destroyed and made again (its history stays).
moved {
  from = aws_cloudwatch_metric_alarm.oldest_message
  to   = aws_cloudwatch_metric_alarm.oldest_message["jobs"]
}

# A batch that runs into the timeout loses its partial-batch response: warn while there is still headroom.
resource "aws_cloudwatch_metric_alarm" "duration" {
  alarm_name          = "${local.function_name}-duration-near-timeout"
  alarm_description   = "The image handler's slowest invocations are within 20% of its timeout"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = module.processor.function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.lambda_timeout_s * 1000 * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_errors" {
  alarm_name          = "${local.api_function_name}-errors"
  alarm_description   = "The upload API's function failed invocations"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.api.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  count               = var.http_api_enabled ? 1 : 0
  alarm_name          = "${local.api_function_name}-5xx"
  alarm_description   = "The upload API answered with server errors"
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = aws_apigatewayv2_api.this[0].id, Stage = "$default" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Queue depth"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.this["jobs"].name],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name, { label = "DLQ" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Handler"
          region = var.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", module.processor.function_name],
            ["AWS/Lambda", "Errors", "FunctionName", module.processor.function_name],
            ["AWS/Lambda", "Throttles", "FunctionName", module.processor.function_name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Duration (ms)"
          region  = var.region
          stat    = "p95"
          period  = 60
          metrics = [["AWS/Lambda", "Duration", "FunctionName", module.processor.function_name]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Age of oldest job (s)"
          region  = var.region
          stat    = "Maximum"
          period  = 60
          metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.this["jobs"].name]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Images (from the handler's EMF metrics)"
          region = var.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["imgpipe", "ImagesProcessed", "environment", var.environment, "service", "imgpipe"],
            [{ expression = "SEARCH('{imgpipe,environment,reason,service} MetricName=\"ImagesFailed\"', 'Sum', 60)", label = "failed by reason", id = "failed" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Processing ms (p50, p95) and bytes"
          region = var.region
          period = 60
          metrics = [
            ["imgpipe", "ProcessingMs", "environment", var.environment, "service", "imgpipe", { stat = "p50" }],
            ["imgpipe", "ProcessingMs", "environment", var.environment, "service", "imgpipe", { stat = "p95" }],
            ["imgpipe", "BytesIn", "environment", var.environment, "service", "imgpipe", { stat = "Sum", yAxis = "right" }],
            ["imgpipe", "BytesOut", "environment", var.environment, "service", "imgpipe", { stat = "Sum", yAxis = "right" }],
          ]
        }
      },
    ]
  })
}
