terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100" # the version the lock and the tests run; widen only with them
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "imgpipe", Environment = var.environment }, var.tags)
  }
}
