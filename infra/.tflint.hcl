# tflint for every folder under infra/ (iac.yml runs `tflint --recursive`). The terraform
# ruleset is bundled with tflint, so `tflint --init` downloads nothing. (The aws ruleset is a
# separate download; add it here pinned by version when the runners may fetch it.)
plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
