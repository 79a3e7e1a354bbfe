# Managed node groups from var.node_groups (one on-demand, one spot in both environments): a
# launch template that requires IMDSv2 with a hop limit of 1 (pods use IRSA, never the node's
# role) and encrypts the root volume; labels and taints on the nodes, and the same as
# cluster-autoscaler node-template tags on each group's Auto Scaling group so it can scale a group
# up from zero. EKS tags managed groups' ASGs with the auto-discovery tags itself; they are set
# here too so that the discovery does not depend on that.

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name                 = "${var.name}-eks-node"
  assume_role_policy   = data.aws_iam_policy_document.node_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

resource "aws_launch_template" "node" {
  for_each = var.node_groups

  name_prefix            = "${var.name}-${each.key}-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each = var.node_groups

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  capacity_type   = each.value.capacity_type
  instance_types  = each.value.instance_types
  labels          = merge(each.value.labels, { "sextant.io/capacity" = lower(each.value.capacity_type) })

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
  }

  update_config {
    max_unavailable_percentage = 33
  }

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  tags = merge(var.tags, {
    "k8s.io/cluster-autoscaler/enabled"     = "true"
    "k8s.io/cluster-autoscaler/${var.name}" = "owned"
  })

  lifecycle {
    # cluster-autoscaler owns the desired size once the group exists.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

locals {
  effect_names = { NO_SCHEDULE = "NoSchedule", NO_EXECUTE = "NoExecute", PREFER_NO_SCHEDULE = "PreferNoSchedule" }

  # group/tag key => value, for the tags cluster-autoscaler reads from each group's ASG.
  asg_tags = merge([for name, g in var.node_groups : merge(
    {
      "${name}|k8s.io/cluster-autoscaler/enabled"     = "true"
      "${name}|k8s.io/cluster-autoscaler/${var.name}" = "owned"
    },
    { for k, v in merge(g.labels, { "sextant.io/capacity" = lower(g.capacity_type) }) :
    "${name}|k8s.io/cluster-autoscaler/node-template/label/${k}" => v },
    { for t in g.taints :
    "${name}|k8s.io/cluster-autoscaler/node-template/taint/${t.key}" => "${t.value}:${local.effect_names[t.effect]}" },
  )]...)
}

resource "aws_autoscaling_group_tag" "node_template" {
  for_each = local.asg_tags

  autoscaling_group_name = aws_eks_node_group.this[split("|", each.key)[0]].resources[0].autoscaling_groups[0].name

  tag {
    key                 = split("|", each.key)[1]
    value               = each.value
    propagate_at_launch = false
  }
}
