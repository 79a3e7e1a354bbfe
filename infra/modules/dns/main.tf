# The platform's hosted zone (created, or an existing one found by name) and any fixed records
# (var.records). service.<domain> is not one of them: it is the hostname of hash-service's
# HTTPRoute (environments/<env>/values/hash-service.yaml), and external-dns (IRSA role in the iam
# module, source gateway-httproute) writes it, pointing at the public Gateway's load balancer, as
# soon as the route is accepted: one apply, no load-balancer name to copy back.

resource "aws_route53_zone" "this" {
  # checkov:skip=CKV2_AWS_38:DNSSEC signing needs a KMS key in us-east-1 and a DS record at the parent zone's registrar, both outside this module; enable it per domain.
  # checkov:skip=CKV2_AWS_39:Query logging needs a log group in us-east-1 (a second provider); resolver logs in the VPC cover the cluster's own queries.
  count = var.create_zone ? 1 : 0

  name    = var.domain
  comment = "Sextant platform ${var.domain}"
  tags    = var.tags
}

data "aws_route53_zone" "existing" {
  count = var.create_zone ? 0 : 1

  name         = var.domain
  private_zone = false
}

locals {
  zone_id = var.create_zone ? aws_route53_zone.this[0].zone_id : data.aws_route53_zone.existing[0].zone_id
  records = var.records
}

resource "aws_route53_record" "this" {
  for_each = local.records

  zone_id = local.zone_id
  name    = "${each.value.name}.${var.domain}"
  type    = each.value.type
  ttl     = each.value.ttl
  records = each.value.values
}
