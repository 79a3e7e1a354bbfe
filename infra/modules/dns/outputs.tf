output "zone_id" {
  description = "ID of the hosted zone."
  value       = local.zone_id
}

output "zone_arn" {
  description = "ARN of the hosted zone: the only zone external-dns and cert-manager may change."
  value       = var.create_zone ? aws_route53_zone.this[0].arn : data.aws_route53_zone.existing[0].arn
}

output "name_servers" {
  description = "The zone's name servers, to delegate the domain to from its parent."
  value       = var.create_zone ? aws_route53_zone.this[0].name_servers : data.aws_route53_zone.existing[0].name_servers
}

output "service_fqdn" {
  description = "The app's public name, service.<domain>."
  value       = "service.${var.domain}"
}
