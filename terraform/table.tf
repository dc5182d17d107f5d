resource "aws_dynamodb_table" "this" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = var.deletion_protection
  hash_key                    = "sourceKey"

  attribute {
    name = "sourceKey"
    type = "S"
  }
  attribute {
    name = "status"
    type = "S"
  }
  attribute {
    name = "updatedAt"
    type = "S"
  }
  attribute {
    name = "phash"
    type = "S"
  }

  global_secondary_index {
    name            = local.status_index
    hash_key        = "status"
    range_key       = "updatedAt"
    projection_type = "ALL"
  }

  # Processed pictures by perceptual hash: how an upload finds an earlier one with the same picture (duplicateOf).
  global_secondary_index {
    name               = local.phash_index
    hash_key           = "phash"
    projection_type    = "INCLUDE"
    non_key_attributes = ["createdAt"]
  }

  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}
