# Renditions served through CloudFront: the output bucket stays private, CloudFront reads it with origin access
# control (SigV4, as the distribution's service principal), and the API hands out CDN URLs instead of presigned
# S3 GETs. Off by default (a distribution takes minutes to deploy); on in terraform.tfvars.example.

resource "aws_cloudfront_origin_access_control" "renditions" {
  count                             = var.cdn_enabled ? 1 : 0
  name                              = "${var.name_prefix}-renditions"
  description                       = "CloudFront reads renditions from the private output bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "renditions" {
  # checkov:skip=CKV_AWS_68: renditions are static, public-by-URL images; a WAF in front of them is a per-deployment choice.
  # checkov:skip=CKV2_AWS_47: there is no application behind this distribution, only S3 objects (no Log4j to exploit).
  # checkov:skip=CKV_AWS_86: access logs need a log bucket outside this stack; CloudFront metrics are on.
  # checkov:skip=CKV_AWS_374: renditions are served worldwide; geo restriction is a per-deployment choice.
  # checkov:skip=CKV_AWS_310: one origin (the output bucket); there is nothing to fail over to.
  # checkov:skip=CKV_AWS_174: the default *.cloudfront.net certificate; a custom domain sets its own TLS policy.
  # checkov:skip=CKV2_AWS_42: the default *.cloudfront.net certificate; a custom domain brings an ACM certificate.
  # checkov:skip=CKV2_AWS_32: AWS's managed SecurityHeadersPolicy is attached by id below; checkov only sees policy resources.
  count           = var.cdn_enabled ? 1 : 0
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name_prefix}: renditions"
  price_class     = var.cdn_price_class

  origin {
    origin_id                = "renditions"
    domain_name              = aws_s3_bucket.output.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.renditions[0].id
  }

  default_cache_behavior {
    target_origin_id       = "renditions"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = false # images are compressed already
    # AWS's managed policies: CachingOptimized, and SecurityHeadersPolicy (HSTS, nosniff, frame options).
    cache_policy_id            = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    response_headers_policy_id = "67f7725c-6f97-4210-82d7-5512b31e9d03"
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
