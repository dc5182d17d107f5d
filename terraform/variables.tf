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
}

variable "force_destroy" {
  description = "Let terraform destroy buckets that still hold objects (never in production)."
  type        = bool
  default     = false
}

variable "input_expiration_days" {
  description = "Days after which original uploads expire from the input bucket."
  type        = number
  default     = 30
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
}

variable "lambda_timeout_s" {
  description = "Lambda timeout in seconds; the queue's visibility timeout is six times this."
  type        = number
  default     = 60
}

variable "queue_visibility_timeout_s" {
  description = "Override of the job queue's visibility timeout (null: 6 x lambda_timeout_s, as AWS advises)."
  type        = number
  default     = null
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function (-1: unreserved)."
  type        = number
  default     = -1
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
  description = "SQS messages per invocation."
  type        = number
  default     = 10
}

variable "batching_window_s" {
  description = "Seconds the event source mapping may wait to fill a batch."
  type        = number
  default     = 1
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 3
}

variable "renditions" {
  description = "Output sizes as name:WIDTHxHEIGHT, comma separated."
  type        = string
  default     = "large:800x600,medium:400x300,thumb:150x150"
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

variable "item_ttl_days" {
  description = "Days after which DynamoDB items expire (TTL on expiresAt)."
  type        = number
  default     = 90
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
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (client ids) for api_auth = jwt."
  type        = list(string)
  default     = []
}

variable "cors_allow_origin" {
  description = "The web origin allowed to call the API and to POST uploads to the input bucket."
  type        = string
  default     = "https://images.example.com"
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
