# Renditions served through CloudFront: the output bucket stays private, CloudFront reads it with origin access
# control (SigV4, as the distribution's service principal), and the API hands out CDN URLs instead of presigned
# S3 GETs. Off by default (a distribution takes minutes to deploy); on in terraform.tfvars.example.
#
# Keys carry their version (pipeline/domain.py rendition_key), so a URL's bytes never change: objects are written
# `public, max-age=31536000, immutable`, and a new upload of a picture gets new URLs. A deleted source's keys, and a
# replaced version's, are invalidated by the processor (pipeline/adapters/edge.py). Each size also has one URL
# whose format a viewer-request function chooses by Accept (cdn/negotiate.js); the cache key is the chosen object.

resource "aws_cloudfront_origin_access_control" "renditions" {
  count                             = var.cdn_enabled ? 1 : 0
  name                              = "${var.name_prefix}-renditions"
  description                       = "CloudFront reads renditions from the private output bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_function" "negotiate" {
  count   = var.cdn_enabled ? 1 : 0
  name    = "${var.name_prefix}-negotiate"
  runtime = "cloudfront-js-2.0"
  comment = "One URL per size: AVIF, WebP or the fallback by the viewer's Accept"
  publish = true
  code    = file("${path.module}/cdn/negotiate.js")
}

# AWS's managed security headers (HSTS, nosniff, frame options, referrer policy, XSS protection), plus Vary: Accept,
# so a browser's or a proxy's cache keeps each format of a size's one URL apart.
resource "aws_cloudfront_response_headers_policy" "renditions" {
  count   = var.cdn_enabled ? 1 : 0
  name    = "${var.name_prefix}-renditions"
  comment = "Security headers, and Vary: Accept for the per-size URLs"

  custom_headers_config {
    items {
      header   = "Vary"
      value    = "Accept"
      override = true
    }
  }

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = false
      override                   = false
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "SAMEORIGIN"
      override     = false
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = false
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = false
    }
  }
}

resource "aws_cloudfront_distribution" "renditions" {
  # checkov:skip=CKV_AWS_68: renditions are static, public-by-URL images; a WAF in front of them is a per-deployment choice.
  # checkov:skip=CKV2_AWS_47: there is no application behind this distribution, only S3 objects (no Log4j to exploit).
  # checkov:skip=CKV_AWS_86: access logs need a log bucket outside this stack; CloudFront metrics are on.
  # checkov:skip=CKV_AWS_374: renditions are served worldwide; geo restriction is a per-deployment choice.
  # checkov:skip=CKV_AWS_310: one origin (the output bucket); there is nothing to fail over to.
  # checkov:skip=CKV_AWS_174: the default *.cloudfront.net certificate; a custom domain sets its own TLS policy.
  # checkov:skip=CKV2_AWS_42: the default *.cloudfront.net certificate; a custom domain brings an ACM certificate.
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
    # AWS's managed CachingOptimized: no header, cookie or query string in the cache key, and the origin's
    # Cache-Control kept up to a year. The function below has rewritten the URI by then: the key is the object's.
    cache_policy_id            = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    response_headers_policy_id = aws_cloudfront_response_headers_policy.renditions[0].id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.negotiate[0].arn
    }
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
