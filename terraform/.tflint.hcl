# tflint for terraform/ and each module (tests/terraform/test_static.py runs it on every one).
# The terraform ruleset is the one bundled in tflint (no `source`, so nothing is downloaded);
# the "all" preset enables every rule, these below included:
#   terraform_documented_variables, terraform_documented_outputs, terraform_typed_variables,
#   terraform_standard_module_structure, terraform_naming_convention, terraform_unused_declarations,
#   terraform_required_version, terraform_required_providers, terraform_comment_syntax, ...
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
