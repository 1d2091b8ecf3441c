"""Kubernetes-safe names for hub users, identical to what KubeSpawner derives.

Usernames arrive with upper case, unicode, dots, `@`, 64+ characters. KubeSpawner's "safe"
slug scheme keeps a valid name as it is and otherwise strips it and appends a hash of the
original, so `Alice` and `alice` get different, stable names. podlab reuses that function
rather than inventing a second scheme that could disagree with the pod KubeSpawner creates.
"""

from __future__ import annotations

from kubespawner.slugs import safe_slug

NAMESPACE_PREFIX = "podlab-"
SLUG_MAX_LENGTH = 48
"""KubeSpawner's `_slug_max_length` for `{username}` in templates (spawner.py, 7.x): a valid
name longer than this, or any escaped name, is cut and hashed to fit, so `podlab-<slug>` stays
within the 63 characters of a namespace name."""


def safe_username(username: str) -> str:
    """A DNS-1123 label (<= 48 chars) unique per username, as KubeSpawner's `{username}`."""
    return str(safe_slug(username, max_length=SLUG_MAX_LENGTH))


def namespace_for(username: str) -> str:
    """The user's namespace: `podlab-<safe-username>` (the template given to KubeSpawner)."""
    return f"{NAMESPACE_PREFIX}{safe_username(username)}"
