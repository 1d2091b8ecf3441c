provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "podlab.io/cluster" = var.name
      "managed-by"        = "terraform"
    })
  }
}
