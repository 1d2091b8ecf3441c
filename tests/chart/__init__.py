"""Tests of the Helm chart charts/podlab: lint, render, schema, security, RBAC, checkov."""
