variable "name" {
  description = "Function name; the role and the log group are named after it."
  type        = string
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "handler" {
  description = "Python handler (module.function) inside the zip."
  type        = string
}

variable "package" {
  description = "The deployment package in S3 (both functions run the same object): bucket, key, version and its base64 SHA-256."
  type = object({
    bucket     = string
    key        = string
    version    = string
    sha256_b64 = string
  })
}

variable "runtime" {
  description = "Lambda Python runtime."
  type        = string
}

variable "architecture" {
  description = "Lambda architecture (arm64 or x86_64)."
  type        = string
}

variable "memory_mb" {
  description = "Memory in MB."
  type        = number
}

variable "timeout_s" {
  description = "Timeout in seconds."
  type        = number
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (-1: unreserved)."
  type        = number
  default     = -1
}

variable "environment" {
  description = "Environment variables (the names Settings.from_env() reads)."
  type        = map(string)
}

variable "policy_json" {
  description = "The role's inline policy: exactly what the function calls (aws_iam_policy_document JSON)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
}

variable "partition" {
  description = "AWS partition (for the X-Ray managed policy's ARN)."
  type        = string
  default     = "aws"
}
