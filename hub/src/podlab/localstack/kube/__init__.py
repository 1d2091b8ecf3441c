"""The Kubernetes test bed: a real control plane, kwok nodes and a pod runner on one machine.

`make kube-up` / `make kube-down` / `make kube-status` (python -m podlab.localstack.kube) and
the tests' `kube` fixture (tests/support/kube.py) use the same code: cluster.py.
"""
