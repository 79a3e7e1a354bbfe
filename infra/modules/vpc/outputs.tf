output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone, in the order of var.azs: where nodes, pods and internal load balancers go."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone, in the order of var.azs: internet-facing load balancers and NAT gateways."
  value       = aws_subnet.public[*].id
}

output "nat_public_ips" {
  description = "Egress addresses of the NAT gateways (what outside allow-lists see)."
  value       = aws_eip.nat[*].public_ip
}

output "flow_log_group" {
  description = "CloudWatch log group holding the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}
