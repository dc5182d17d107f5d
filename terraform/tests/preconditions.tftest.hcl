# What plans cleanly on defaults and what AWS would refuse (or what would break at run time) refused at plan time.
# Offline: a mock provider stands in for AWS. Run by `make tf-check` (terraform test).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  lambda_zip_path   = "tests/placeholder.zip"
  cors_allow_origin = "https://www.example.com"
}

run "defaults_plan" {
  command = plan
  assert {
    condition     = aws_sqs_queue.this["jobs"].visibility_timeout_seconds == 6 * var.lambda_timeout_s + var.batching_window_s
    error_message = "the visibility timeout follows the function timeout and the batching window"
  }
  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "the table is protected by default"
  }
}

run "one_retention_for_originals_renditions_and_items" {
  command = plan
  variables { retention_days = 30 }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.output.rule : r.expiration[0].days]) == var.retention_days
    error_message = "renditions expire with their originals"
  }
  assert {
    condition     = alltrue([for r in aws_s3_bucket_lifecycle_configuration.output.rule : length(r.transition) == 0])
    error_message = "no rendition moves to a class a presigned GET cannot read"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.input.rule : r.expiration[0].days if length(r.expiration) > 0]) == var.retention_days
    error_message = "originals expire after retention_days"
  }
  assert {
    condition     = module.processor.environment.ITEM_TTL_DAYS == tostring(var.retention_days)
    error_message = "items expire with their originals and renditions"
  }
}

run "unprotected_only_on_request" {
  command = plan
  variables {
    deletion_protection = false
    force_destroy       = true
  }
  assert {
    condition     = !aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "deletion_protection = false turns the table's protection off"
  }
}

run "visibility_below_six_timeouts" {
  command = plan
  variables { queue_visibility_timeout_s = 10 }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "visibility_without_the_batching_window" {
  command = plan
  variables {
    batching_window_s          = 5
    queue_visibility_timeout_s = 360
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "large_batches_need_a_window" {
  command = plan
  variables { batch_size = 100 }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "reserved_concurrency_below_mapping_maximum" {
  command = plan
  variables {
    reserved_concurrency = 5
    max_concurrency      = 20
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

# Enough for the job queue's mapping alone, not for the variants queue's beside it.
run "reserved_concurrency_below_both_mappings" {
  command = plan
  variables {
    reserved_concurrency     = 20
    max_concurrency          = 20
    variants_max_concurrency = 2
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "jwt_without_audience" {
  command = plan
  variables {
    api_auth   = "jwt"
    jwt_issuer = "https://issuer.example.com"
  }
  expect_failures = [aws_apigatewayv2_authorizer.jwt]
}

run "jwt_without_issuer" {
  command = plan
  variables {
    api_auth     = "jwt"
    jwt_audience = ["client"]
  }
  expect_failures = [aws_apigatewayv2_authorizer.jwt]
}

run "jwt_with_issuer_and_audience" {
  command = plan
  variables {
    api_auth     = "jwt"
    jwt_issuer   = "https://issuer.example.com"
    jwt_audience = ["client"]
  }
}

run "name_prefix_xn" {
  command = plan
  variables { name_prefix = "xn--images" }
  expect_failures = [var.name_prefix]
}

run "name_prefix_sthree" {
  command = plan
  variables { name_prefix = "sthree-images" }
  expect_failures = [var.name_prefix]
}

run "bucket_suffix_s3alias" {
  command = plan
  variables { bucket_name_suffix = "team-s3alias" }
  expect_failures = [var.bucket_name_suffix]
}

run "force_destroy_while_protected" {
  command = plan
  variables { force_destroy = true }
  expect_failures = [aws_s3_bucket.input]
}

run "retention_zero" {
  command = plan
  variables { retention_days = 0 }
  expect_failures = [var.retention_days]
}

run "cdn_serves_renditions" {
  command = plan
  variables { cdn_enabled = true }
  assert {
    condition     = startswith(module.api.environment.CDN_BASE_URL, "https://")
    error_message = "with the CDN on, the API hands out CDN URLs"
  }
  assert {
    condition     = aws_cloudfront_origin_access_control.renditions[0].signing_behavior == "always"
    error_message = "CloudFront signs every request to the private bucket"
  }
}

run "an_origin_with_a_path_or_a_wildcard_is_refused" {
  command = plan
  variables { cors_allow_origin = "https://www.example.com/" }
  expect_failures = [var.cors_allow_origin]
}

run "a_browser_sigv4_signer_passes_the_preflight" {
  command = plan
  variables { http_api_enabled = true }
  assert {
    condition = length(setsubtract(
      ["authorization", "content-type", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-user-agent"],
      one(aws_apigatewayv2_api.this[0].cors_configuration).allow_headers
    )) == 0
    error_message = "the API's CORS lets through every header a browser SigV4 signer sends"
  }
  assert {
    condition     = one(aws_apigatewayv2_api.this[0].cors_configuration).allow_origins == toset([var.cors_allow_origin])
    error_message = "the API allows the configured origin only"
  }
}

run "a_new_account_with_a_quota_of_10_refuses_the_default_mappings" {
  command = plan
  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency[0]
    values = { value = 10 }
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "a_reservation_that_would_take_the_accounts_last_100_is_refused" {
  command = plan
  variables { reserved_concurrency = 950 }
  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "a_reservation_inside_the_quota_plans" {
  command = plan
  variables { reserved_concurrency = 900 }
}

run "cmyk_profile_in_s3_is_that_object_only" {
  command = plan
  variables { cmyk_profile = "s3://press-profiles/cmyk/coated.icc" }
  assert {
    condition     = module.processor.environment.CMYK_PROFILE == var.cmyk_profile
    error_message = "the function is told where the profile is"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "ReadCmykProfile"]) == toset(["arn:aws:s3:::press-profiles/cmyk/coated.icc"])
    error_message = "the function may read that object, and only it"
  }
}

run "no_cmyk_profile_no_grant" {
  command = plan
  assert {
    condition     = length([for s in data.aws_iam_policy_document.this.statement : s if s.sid == "ReadCmykProfile"]) == 0
    error_message = "without a profile in S3 the function reads nothing but its buckets"
  }
}

run "cmyk_profile_neither_s3_nor_a_path" {
  command = plan
  variables { cmyk_profile = "coated.icc" }
  expect_failures = [var.cmyk_profile]
}

run "renditions_with_crop_and_formats_per_size_plan" {
  command = plan
  variables { renditions = "large:800x600:fallback+webp+avif, medium:400x300:webp,thumb:150x150:crop:webp" }
}

run "renditions_with_an_unknown_format_refused" {
  command = plan
  variables { renditions = "large:800x600,thumb:150x150:gif" }
  expect_failures = [var.renditions]
}

run "renditions_with_a_zero_size_refused" {
  command = plan
  variables { renditions = "large:800x0" }
  expect_failures = [var.renditions]
}
