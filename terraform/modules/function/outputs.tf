output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "arn" {
  description = "The function's ARN."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "The ARN API Gateway invokes."
  value       = aws_lambda_function.this.invoke_arn
}

output "environment" {
  description = "The function's environment variables."
  value       = aws_lambda_function.this.environment[0].variables
}

output "role_name" {
  description = "The function's role."
  value       = aws_iam_role.this.name
}

output "log_group_arn" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.arn
}
