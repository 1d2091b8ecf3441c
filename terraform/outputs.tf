locals {
  role_annotation  = "podlab.io/aws-role-arn"
  sa               = module.identity.service_accounts
  database_secret  = "podlab-database"
  storage_class    = module.storage.storage_class
  pod_sg_component = ["hub", "mlflow", "mlflow-migrate"]

  # Values for charts/podlab (keys as in its values.schema.json). EKS Pod Identity binds roles
  # by namespace and service-account name, so the podlab.io/aws-role-arn annotations only
  # record which role a service account receives (the hub gets none).
  database_values = {
    host           = module.database.host
    port           = module.database.port
    user           = module.database.master_username
    existingSecret = local.database_secret
    passwordKey    = "password"
  }

  helm_values = {
    podlab = {
      storage = {
        home_size     = var.home_volume_size
        storage_class = local.storage_class.name
      }
      integrations = {
        s3 = {
          region        = var.region
          shared_bucket = module.s3.shared_bucket
          endpoint_url  = null
        }
      }
      network = {
        # User pods are denied the database subnets; the hub and MLflow may reach them.
        database = { cidr = module.network.database_cidr, port = module.database.port }
      }
      user_service_account = {
        annotations = { (local.role_annotation) = local.sa.user.role_arn }
      }
    }

    hub = {
      db             = merge(local.database_values, { name = module.database.databases["hub"] })
      serviceAccount = { annotations = {} }
    }

    mlflow = {
      db = merge(local.database_values, { name = module.database.databases["mlflow"] })
      artifacts = {
        destination = "s3://${module.s3.artifacts_bucket}/mlflow"
        region      = var.region
      }
      serviceAccount = {
        create      = true
        name        = local.sa.mlflow.name
        annotations = { (local.role_annotation) = local.sa.mlflow.role_arn }
      }
    }
  }

  # Cluster objects the chart does not render; apply them once before `helm install`.
  kubernetes_manifests = [
    {
      apiVersion = "storage.k8s.io/v1"
      kind       = "StorageClass"
      metadata = {
        name   = local.storage_class.name
        labels = { "app.kubernetes.io/managed-by" = "terraform" }
      }
      provisioner          = local.storage_class.provisioner
      parameters           = local.storage_class.parameters
      volumeBindingMode    = local.storage_class.volumeBindingMode
      reclaimPolicy        = local.storage_class.reclaimPolicy
      allowVolumeExpansion = local.storage_class.allowVolumeExpansion
      allowedTopologies    = local.storage_class.allowedTopologies
    },
    {
      # Security groups for pods: only these pods carry the group the database admits.
      apiVersion = "vpcresources.k8s.aws/v1beta1"
      kind       = "SecurityGroupPolicy"
      metadata   = { name = "podlab-database-clients", namespace = var.namespace }
      spec = {
        podSelector = {
          matchExpressions = [{
            key      = "app.kubernetes.io/component"
            operator = "In"
            values   = local.pod_sg_component
          }]
        }
        securityGroups = {
          groupIds = [module.database.client_security_group_id, module.eks.cluster_security_group_id]
        }
      }
    },
    {
      # External Secrets Operator (its controller holds the secret-reader Pod Identity).
      apiVersion = "external-secrets.io/v1"
      kind       = "SecretStore"
      metadata   = { name = "podlab-aws-secrets-manager", namespace = var.namespace }
      spec = {
        provider = { aws = { service = "SecretsManager", region = var.region } }
      }
    },
    {
      apiVersion = "external-secrets.io/v1"
      kind       = "ExternalSecret"
      metadata   = { name = local.database_secret, namespace = var.namespace }
      spec = {
        refreshInterval = "1h"
        secretStoreRef  = { kind = "SecretStore", name = "podlab-aws-secrets-manager" }
        target          = { name = local.database_secret, creationPolicy = "Owner" }
        data = [{
          secretKey = "password"
          remoteRef = { key = module.database.master_secret_arn, property = "password" }
        }]
      }
    },
  ]
}

output "helm_values" {
  description = "YAML values for charts/podlab: terraform output -raw helm_values > values-aws.yaml, then helm install ... -f values-aws.yaml."
  value       = yamlencode(local.helm_values)
}

output "kubernetes_manifests" {
  description = "YAML of the StorageClass, SecurityGroupPolicy and External Secrets objects to apply before helm install (terraform output -raw kubernetes_manifests | kubectl apply -f -)."
  value       = join("", [for m in local.kubernetes_manifests : "---\n${yamlencode(m)}"])
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name <this>)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "artifacts_bucket" {
  description = "MLflow artifacts bucket."
  value       = module.s3.artifacts_bucket
}

output "shared_bucket" {
  description = "Shared data bucket."
  value       = module.s3.shared_bucket
}

output "database_host" {
  description = "PostgreSQL host."
  value       = module.database.host
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database master credentials (rotated by RDS)."
  value       = module.database.master_secret_arn
}

output "user_role_arn" {
  description = "Role for user pods; associate it with each new user namespace (see docs/admin-guide.md)."
  value       = module.identity.user_role_arn
}

output "cluster_autoscaler_role_arn" {
  description = "Role bound to kube-system/cluster-autoscaler; install the cluster autoscaler with that service account."
  value       = module.nodegroups.autoscaler_role_arn
}

output "gpu_scheduling" {
  description = "Node selector and toleration of GPU profiles."
  value = {
    node_selector = module.nodegroups.gpu_node_selector
    toleration    = module.nodegroups.gpu_toleration
  }
}
