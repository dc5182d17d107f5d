# Every variable's validation holds at its bounds: each accepted bound plans, and one step past each is refused by
# that variable's own rule (a rule dropped or loosened fails here). Offline, a mock provider; run by `make tf-check`.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  lambda_zip_path   = "tests/placeholder.zip"
  cors_allow_origin = "https://www.example.com"
}

run "every_lower_bound_plans" {
  command = plan
  variables {
    retention_days                  = 1
    lambda_memory_mb                = 128
    lambda_timeout_s                = 1
    max_concurrency                 = 2
    variants_max_concurrency        = 2
    batch_size                      = 1
    batching_window_s               = 0
    max_receive_count               = 1
    variants_oldest_message_alarm_s = 60
    lambda_architecture             = "x86_64"
    formats                         = "fallback"
    defer_formats                   = ""
    cdn_price_class                 = "PriceClass_All"
  }
}

run "every_upper_bound_plans" {
  command = plan
  override_data { # an account with room for the largest mappings
    target = data.aws_servicequotas_service_quota.lambda_concurrency[0]
    values = { value = 100000 }
  }
  variables {
    retention_days           = 3650
    lambda_memory_mb         = 10240
    lambda_timeout_s         = 900
    max_concurrency          = 1000
    variants_max_concurrency = 1000
    batch_size               = 10000
    batching_window_s        = 300
    max_receive_count        = 1000
    lambda_architecture      = "arm64"
    formats                  = "fallback,webp,avif"
    defer_formats            = "avif"
    api_auth                 = "jwt"
    jwt_issuer               = "https://issuer.example.com"
    jwt_audience             = ["client"]
    cdn_price_class          = "PriceClass_100"
  }
}

run "retention_days_refuses_3651" {
  command = plan
  variables { retention_days = 3651 }
  expect_failures = [var.retention_days]
}

run "retention_days_refuses_1_5" {
  command = plan
  variables { retention_days = 1.5 }
  expect_failures = [var.retention_days]
}

run "lambda_memory_mb_refuses_127" {
  command = plan
  variables { lambda_memory_mb = 127 }
  expect_failures = [var.lambda_memory_mb]
}

run "lambda_memory_mb_refuses_10241" {
  command = plan
  variables { lambda_memory_mb = 10241 }
  expect_failures = [var.lambda_memory_mb]
}

run "lambda_timeout_s_refuses_0" {
  command = plan
  variables { lambda_timeout_s = 0 }
  expect_failures = [var.lambda_timeout_s]
}

run "lambda_timeout_s_refuses_901" {
  command = plan
  variables { lambda_timeout_s = 901 }
  expect_failures = [var.lambda_timeout_s]
}

run "max_concurrency_refuses_1" {
  command = plan
  variables { max_concurrency = 1 }
  expect_failures = [var.max_concurrency]
}

run "max_concurrency_refuses_1001" {
  command = plan
  variables { max_concurrency = 1001 }
  expect_failures = [var.max_concurrency]
}

run "variants_max_concurrency_refuses_1" {
  command = plan
  variables { variants_max_concurrency = 1 }
  expect_failures = [var.variants_max_concurrency]
}

run "variants_max_concurrency_refuses_1001" {
  command = plan
  variables { variants_max_concurrency = 1001 }
  expect_failures = [var.variants_max_concurrency]
}

run "batch_size_refuses_0" {
  command = plan
  variables { batch_size = 0 }
  expect_failures = [var.batch_size]
}

run "batch_size_refuses_10001" {
  command = plan
  variables { batch_size = 10001 }
  expect_failures = [var.batch_size]
}

run "batching_window_s_refuses_minus_1" {
  command = plan
  variables { batching_window_s = -1 }
  expect_failures = [var.batching_window_s]
}

run "batching_window_s_refuses_301" {
  command = plan
  variables { batching_window_s = 301 }
  expect_failures = [var.batching_window_s]
}

run "max_receive_count_refuses_0" {
  command = plan
  variables { max_receive_count = 0 }
  expect_failures = [var.max_receive_count]
}

run "max_receive_count_refuses_1001" {
  command = plan
  variables { max_receive_count = 1001 }
  expect_failures = [var.max_receive_count]
}

run "variants_oldest_message_alarm_s_refuses_59" {
  command = plan
  variables { variants_oldest_message_alarm_s = 59 }
  expect_failures = [var.variants_oldest_message_alarm_s]
}

run "lambda_architecture_refuses_amd64" {
  command = plan
  variables { lambda_architecture = "amd64" }
  expect_failures = [var.lambda_architecture]
}

run "api_auth_refuses_none" {
  command = plan
  variables { api_auth = "none" }
  expect_failures = [var.api_auth]
}

run "jwt_issuer_refuses_http" {
  command = plan
  variables { jwt_issuer = "http://issuer.example.com" }
  expect_failures = [var.jwt_issuer]
}

run "cdn_price_class_refuses_an_unknown_class" {
  command = plan
  variables { cdn_price_class = "PriceClass_300" }
  expect_failures = [var.cdn_price_class]
}

run "formats_refuses_webp_avif" {
  command = plan
  variables { formats = "webp,avif" }
  expect_failures = [var.formats]
}

run "formats_refuses_fallback_jpegxl" {
  command = plan
  variables { formats = "fallback,jpegxl" }
  expect_failures = [var.formats]
}

run "defer_formats_refuses_webp" {
  command = plan
  variables { defer_formats = "webp" }
  expect_failures = [var.defer_formats]
}

run "input_prefix_refuses_uploads" {
  command = plan
  variables { input_prefix = "uploads" }
  expect_failures = [var.input_prefix]
}

run "name_prefix_refuses_Images" {
  command = plan
  variables { name_prefix = "Images" }
  expect_failures = [var.name_prefix]
}

run "name_prefix_refuses_amzn_s3_demo" {
  command = plan
  variables { name_prefix = "amzn-s3-demo-images" }
  expect_failures = [var.name_prefix]
}

run "bucket_name_suffix_refuses_a_trailing_dash" {
  command = plan
  variables { bucket_name_suffix = "team-" }
  expect_failures = [var.bucket_name_suffix]
}

run "bucket_name_suffix_refuses_ol_s3" {
  command = plan
  variables { bucket_name_suffix = "team--ol-s3" }
  expect_failures = [var.bucket_name_suffix]
}

run "bucket_name_suffix_refuses_x_s3" {
  command = plan
  variables { bucket_name_suffix = "team--x-s3" }
  expect_failures = [var.bucket_name_suffix]
}

run "cmyk_profile_refuses_a_relative_path" {
  command = plan
  variables { cmyk_profile = "profiles/cmyk.icc" }
  expect_failures = [var.cmyk_profile]
}

# The mappings may take every execution the account has, not one more (the precondition's bound, both sides).
run "mappings_may_take_the_whole_quota" {
  command = plan
  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency[0]
    values = { value = 22 }
  }
}

run "mappings_may_not_take_more_than_the_quota" {
  command = plan
  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency[0]
    values = { value = 21 }
  }
  expect_failures = [aws_lambda_event_source_mapping.this]
}
