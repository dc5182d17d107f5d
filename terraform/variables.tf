variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (the NAME_PREFIX the handler also reads)."
  type        = string
  default     = "imgpipe"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 lower-case letters, digits or dashes."
  }

  # Bucket names start with it, and S3 refuses these prefixes at apply time (plan would pass).
  validation {
    condition     = !startswith(var.name_prefix, "xn--") && !startswith(var.name_prefix, "sthree-") && !startswith(var.name_prefix, "amzn-s3-demo-")
    error_message = "name_prefix must not start with xn--, sthree- or amzn-s3-demo- (S3 reserves them for bucket names)."
  }
}

variable "environment" {
  description = "Environment name, sent as a message attribute on every result notification."
  type        = string
  default     = "prod"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "input_prefix" {
  description = "Only objects under this key prefix of the input bucket are processed."
  type        = string
  default     = "uploads/"

  validation {
    condition     = endswith(var.input_prefix, "/")
    error_message = "input_prefix must end with a slash."
  }
}

variable "bucket_name_suffix" {
  description = "Suffix that makes bucket names globally unique; empty means the account id."
  type        = string
  default     = ""

  # Bucket names end with it: S3 refuses these endings, and characters outside [a-z0-9-], at apply time.
  validation {
    condition     = can(regex("^[a-z0-9-]{0,32}$", var.bucket_name_suffix)) && !endswith(var.bucket_name_suffix, "-s3alias") && !endswith(var.bucket_name_suffix, "--ol-s3") && !endswith(var.bucket_name_suffix, "--x-s3") && !endswith(var.bucket_name_suffix, "-")
    error_message = "bucket_name_suffix must be at most 32 of [a-z0-9-], not end with a dash, -s3alias, --ol-s3 or --x-s3."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy buckets that still hold objects (never in production)."
  type        = bool
  default     = false
}

variable "retention_days" {
  description = "Days an image lives: its original, its renditions and its item expire together after this many days."
  type        = number
  default     = 90

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "deletion_protection" {
  description = "Protect the table from deletion and refuse force_destroy of the buckets (on for production)."
  type        = bool
  default     = true
}

variable "lambda_zip_path" {
  description = "Path of the deployment package that `make build` writes (dist/lambda.zip)."
  type        = string
  default     = "../dist/lambda.zip"
}

variable "lambda_runtime" {
  description = "Lambda Python runtime."
  type        = string
  default     = "python3.12"
}

variable "lambda_architecture" {
  description = "Lambda architecture; build the zip for the same one (make build ARCH=...)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Lambda memory in MB (also buys CPU)."
  type        = number
  default     = 512

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_s" {
  description = "Lambda timeout in seconds; the queue's visibility timeout is six times this plus the batching window."
  type        = number
  default     = 60

  validation {
    condition     = var.lambda_timeout_s >= 1 && var.lambda_timeout_s <= 900
    error_message = "lambda_timeout_s must be between 1 and 900."
  }
}

variable "queue_visibility_timeout_s" {
  description = "Override of the job queue's visibility timeout (null: 6 x lambda_timeout_s + batching_window_s, as AWS advises; never less)."
  type        = number
  default     = null
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function (-1: unreserved; else at least max_concurrency)."
  type        = number
  default     = -1
}

variable "check_account_quotas" {
  description = "Read the account's Lambda concurrency quota at plan time (servicequotas:GetServiceQuota) and refuse concurrency settings it cannot honour. Off only where Service Quotas does not answer (the emulators)."
  type        = bool
  default     = true
}

variable "max_concurrency" {
  description = "Most concurrent invocations the SQS event source mapping may make (2-1000)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be between 2 and 1000."
  }
}

variable "batch_size" {
  description = "SQS messages per invocation (over 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "batching_window_s" {
  description = "Seconds the event source mapping may wait to fill a batch (0: none, AWS's default; it adds to the visibility timeout)."
  type        = number
  default     = 0

  validation {
    condition     = var.batching_window_s >= 0 && var.batching_window_s <= 300
    error_message = "batching_window_s must be between 0 and 300."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 3

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "renditions" {
  description = "Output sizes, comma separated: name:WIDTHxHEIGHT (fitted inside), then optionally :crop (filling the box, cropped to keep the subject) and :formats of that size joined by + (else var.formats), e.g. thumb:150x150:crop:webp. The largest size keeps the fallback; every size has fallback or webp."
  type        = string
  default     = "large:800x600,medium:400x300,thumb:150x150"

  validation {
    # The syntax, size by size (the function's settings refuse the same and more: tests/terraform/test_static.py).
    condition = alltrue([
      for size in split(",", replace(var.renditions, " ", "")) :
      can(regex("^[a-z][a-z0-9_-]*:[1-9][0-9]*x[1-9][0-9]*(:crop(:(fallback|webp|avif)(\\+(fallback|webp|avif))*)?|:(fallback|webp|avif)(\\+(fallback|webp|avif))*(:crop)?)?$", size))
    ])
    error_message = "renditions must be name:WIDTHxHEIGHT sizes, comma separated, each optionally with :crop and its formats joined by + (fallback, webp, avif): e.g. large:800x600,thumb:150x150:crop:webp."
  }
}

variable "cmyk_profile" {
  description = "An ICC profile for CMYK sources that carry none: s3://bucket/key (the function may read that object only), or a path in the package or a layer (/var/task/..., /opt/...). Empty: Pillow's own conversion. No profile ships with imgpipe."
  type        = string
  default     = ""

  validation {
    condition     = var.cmyk_profile == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$", var.cmyk_profile)) || startswith(var.cmyk_profile, "/")
    error_message = "cmyk_profile must be empty, s3://bucket/key, or an absolute path in the package or a layer."
  }
}

variable "formats" {
  description = "Formats of every rendition: fallback (JPEG, or PNG with alpha) and any of webp, avif (docs/performance.md: bytes, time and cost of each)."
  type        = string
  default     = "fallback,webp,avif"

  validation {
    condition     = contains(split(",", replace(lower(var.formats), " ", "")), "fallback") && alltrue([for f in split(",", replace(lower(var.formats), " ", "")) : contains(["fallback", "webp", "avif"], f)])
    error_message = "formats must list fallback and any of webp, avif (comma separated)."
  }
}

variable "defer_formats" {
  description = "Formats made later, from the lower-priority variants queue, instead of in line: \"avif\" (its encoder would take every image past the time budget) or \"\" (all in line)."
  type        = string
  default     = "avif"

  validation {
    condition     = contains(["", "avif"], replace(lower(var.defer_formats), " ", ""))
    error_message = "defer_formats must be \"avif\" or \"\": only AVIF can be deferred."
  }
}

variable "variants_max_concurrency" {
  description = "Most concurrent invocations for the deferred variants (2-1000): kept low so that they never take the concurrency new uploads need."
  type        = number
  default     = 2

  validation {
    condition     = var.variants_max_concurrency >= 2 && var.variants_max_concurrency <= 1000
    error_message = "variants_max_concurrency must be between 2 and 1000."
  }
}

variable "max_bytes" {
  description = "Largest accepted upload in bytes."
  type        = number
  default     = 26214400
}

variable "max_pixels" {
  description = "Largest accepted image in pixels (checked from the header, before decoding)."
  type        = number
  default     = 50000000
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "Log level of the handler."
  type        = string
  default     = "INFO"
}

variable "alert_email" {
  description = "E-mail address subscribed to the alerts topic; null for none."
  type        = string
  default     = null
}

variable "oldest_message_alarm_s" {
  description = "Alarm when the oldest job has waited this many seconds."
  type        = number
  default     = 900
}

variable "variants_oldest_message_alarm_s" {
  description = "Alarm when the oldest deferred-variants job (AVIF) has waited this many seconds (they wait behind new uploads by design)."
  type        = number
  default     = 3600

  validation {
    condition     = var.variants_oldest_message_alarm_s >= 60
    error_message = "variants_oldest_message_alarm_s must be at least 60 (the metric's period)."
  }
}

variable "api_auth" {
  description = "How callers of the upload API authenticate: iam (SigV4, the default) or jwt (an OIDC issuer). The API is never open."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt"], var.api_auth)
    error_message = "api_auth must be iam or jwt."
  }
}

variable "jwt_issuer" {
  description = "OIDC issuer URL for api_auth = jwt (for example a Cognito user pool's issuer)."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || startswith(coalesce(var.jwt_issuer, "-"), "https://")
    error_message = "jwt_issuer must be an https:// URL."
  }
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (client ids) for api_auth = jwt."
  type        = list(string)
  default     = []
}

variable "cors_allow_origin" {
  description = "The web origin of your site (scheme, host and port, no path), allowed to call the API and to POST uploads to the input bucket. No default: a placeholder would block every real site."
  type        = string

  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.cors_allow_origin))
    error_message = "cors_allow_origin is an origin such as https://www.example.com (scheme and host, optional port, no path, no trailing slash, no wildcard)."
  }
}

variable "api_throttle_rate" {
  description = "Steady requests per second the API accepts."
  type        = number
  default     = 50
}

variable "event_source_mapping_enabled" {
  description = "Whether the queue invokes the function. Leave on; off only where the function cannot run (LocalStack without Docker), so the local worker consumes the queue."
  type        = bool
  default     = true
}

variable "http_api_enabled" {
  description = "Whether to create the HTTP API in front of the API function. Leave on; off only for LocalStack's community edition, which has no API Gateway v2."
  type        = bool
  default     = true
}

variable "cdn_enabled" {
  description = "Serve renditions through CloudFront with origin access control; the API then returns CDN URLs instead of presigned S3 GETs."
  type        = bool
  default     = false
}

variable "cdn_price_class" {
  description = "CloudFront price class (which edge locations serve the renditions)."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cdn_price_class)
    error_message = "cdn_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}
