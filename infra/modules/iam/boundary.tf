# The permissions boundary of every role this project's Terraform creates for workloads (IRSA
# roles here, the EKS cluster and node roles in the eks module): whatever policies such a role
# holds, it can do nothing in IAM but create service-linked roles and read, and nothing in
# Organizations or the account's settings. terraform-apply may create and change roles named
# <name>-* only with this boundary attached (github.tf), so no role it makes is a way to
# administrator.

data "aws_iam_policy_document" "boundary" {
  # checkov:skip=CKV_AWS_107:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  # checkov:skip=CKV_AWS_108:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  # checkov:skip=CKV_AWS_109:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  # checkov:skip=CKV_AWS_110:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  # checkov:skip=CKV_AWS_111:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  # checkov:skip=CKV_AWS_356:A permissions boundary caps what each role's own policy grants and grants nothing alone; IAM writes are outside it.
  statement {
    sid         = "EverythingButIamAndTheAccount"
    not_actions = ["iam:*", "organizations:*", "account:*"]
    resources   = ["*"]
  }

  statement {
    sid       = "ReadIamAndServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole", "iam:Get*", "iam:List*"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "boundary" {
  name        = "${var.name}-boundary"
  description = "Permissions boundary of the ${var.name} workload roles: no IAM writes."
  policy      = data.aws_iam_policy_document.boundary.json
  tags        = var.tags
}
