data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  suffix           = var.bucket_name_suffix != "" ? var.bucket_name_suffix : data.aws_caller_identity.current.account_id
  input_bucket     = "${var.name_prefix}-input-${local.suffix}"
  output_bucket    = "${var.name_prefix}-output-${local.suffix}"
  function_name    = "${var.name_prefix}-processor"
  queue_name       = "${var.name_prefix}-jobs"
  dlq_name         = "${var.name_prefix}-jobs-dlq"
  variants_name    = "${var.name_prefix}-jobs-variants"
  table_name       = "${var.name_prefix}-images"
  status_index     = "status-index"
  phash_index      = "phash-index"
  visibility_s     = coalesce(var.queue_visibility_timeout_s, 6 * var.lambda_timeout_s + var.batching_window_s)
  dlq_alarm_name   = "${var.name_prefix}-jobs-dlq-not-empty"
  artifacts_bucket = "${var.name_prefix}-artifacts-${local.suffix}"
  alerts_topic     = "${var.name_prefix}-alerts"
  # The one uploaded package both functions run.
  package = {
    bucket     = aws_s3_object.package.bucket
    key        = aws_s3_object.package.key
    version    = aws_s3_object.package.version_id
    sha256_b64 = filebase64sha256(var.lambda_zip_path)
  }
}
