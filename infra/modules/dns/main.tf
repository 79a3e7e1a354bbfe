# The platform's hosted zone (created, or an existing one found by name) and its records:
# service.<domain> as a CNAME to the ingress load balancer when its name is known; otherwise
# external-dns (IRSA role in the iam module) writes it from the Ingress.

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
  records = merge(var.records, var.ingress_hostname == "" ? {} : {
    service = { name = "service", type = "CNAME", ttl = 60, values = [var.ingress_hostname] }
  })
}

resource "aws_route53_record" "this" {
  for_each = local.records

  zone_id = local.zone_id
  name    = "${each.value.name}.${var.domain}"
  type    = each.value.type
  ttl     = each.value.ttl
  records = each.value.values
}
