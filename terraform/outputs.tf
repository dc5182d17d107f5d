output "input_bucket_name" {
  description = "Bucket to upload images to (under input_prefix)."
  value       = aws_s3_bucket.input.bucket
}

output "input_prefix" {
  description = "Key prefix that triggers processing."
  value       = var.input_prefix
}

output "output_bucket_name" {
  description = "Bucket that receives the renditions."
  value       = aws_s3_bucket.output.bucket
}

output "queue_name" {
  description = "Name of the job queue."
  value       = aws_sqs_queue.this["jobs"].name
}

output "queue_url" {
  description = "URL of the job queue."
  value       = aws_sqs_queue.this["jobs"].id
}

output "queue_arn" {
  description = "ARN of the job queue."
  value       = aws_sqs_queue.this["jobs"].arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "table_name" {
  description = "DynamoDB table of image items."
  value       = aws_dynamodb_table.this.name
}

output "results_topic_arn" {
  description = "SNS topic of processed / failed results."
  value       = aws_sns_topic.results.arn
}

output "alerts_topic_arn" {
  description = "SNS topic for operator alerts."
  value       = aws_sns_topic.alerts.arn
}

output "function_name" {
  description = "Name of the image handler function."
  value       = module.processor.function_name
}

output "dlq_alarm_name" {
  description = "Name of the DLQ-not-empty alarm."
  value       = aws_cloudwatch_metric_alarm.dlq.alarm_name
}

output "handler_environment" {
  description = "The environment the handler runs with: export it to run the CLI against this stack."
  value       = module.processor.environment
}

output "api_endpoint" {
  description = "Base URL of the upload API (POST /uploads, GET /images/{id}, GET /images?status=)."
  value       = var.http_api_enabled ? aws_apigatewayv2_stage.this[0].invoke_url : null
}

output "api_function_name" {
  description = "Name of the upload API's function."
  value       = module.api.function_name
}

output "cdn_domain_name" {
  description = "CloudFront domain that serves the renditions (null without cdn_enabled)."
  value       = var.cdn_enabled ? aws_cloudfront_distribution.renditions[0].domain_name : null
}

output "variants_queue_url" {
  description = "URL of the lower-priority queue of deferred variants (AVIF)."
  value       = aws_sqs_queue.this["variants"].id
}
