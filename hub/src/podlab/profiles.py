"""The spawn form both spawners show: one radio button per profile, each with what it gives
and, where it cannot start as usual, why (greyed out when it cannot start at all).

The local spawner knows this from the machine's GPUs, the Kubernetes spawner from the cluster's
nodes (k8s/capacity.py); the form is the same, so users see one wording everywhere.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from podlab.config import Profile

PROFILE_KEY = "profile"
"""The one spawn option podlab accepts: the chosen profile's slug."""


@dataclass(frozen=True)
class Offer:
    """How a profile is offered: `startable` False greys it out, `note` says why or what to
    expect (e.g. "starts a new node first: this takes a few minutes")."""

    startable: bool = True
    note: str = ""


def summary(profile: Profile) -> str:
    gpus = f", {profile.gpu_count} GPU" if profile.gpu_count else ""
    return f"{profile.cpu.limit:g} CPU, {profile.memory.limit} memory{gpus}"


def render_form(profiles: Sequence[Profile], default_slug: str, offers: Mapping[str, Offer]) -> str:
    """The options form: the default (or the first startable profile) preselected."""
    startable = [p.slug for p in profiles if offers.get(p.slug, Offer()).startable]
    chosen = default_slug if default_slug in startable else (startable[0] if startable else "")
    rows = []
    for profile in profiles:
        offer = offers.get(profile.slug, Offer())
        slug = html.escape(profile.slug)
        state = "" if offer.startable else " disabled"
        if profile.slug == chosen:
            state = " checked"
        note = ""
        if offer.note:
            kind = "podlab-note" if offer.startable else "podlab-unavailable"
            prefix = "" if offer.startable else "Unavailable: "
            note = f'<div class="{kind} text-muted">{prefix}{html.escape(offer.note)}</div>'
        rows.append(
            f'<div class="form-check podlab-profile" data-profile="{slug}">'
            f'<input class="form-check-input" type="radio" name="{PROFILE_KEY}" '
            f'id="profile-{slug}" value="{slug}"{state}>'
            f'<label class="form-check-label" for="profile-{slug}">'
            f"<strong>{html.escape(profile.display_name)}</strong> "
            f"<small>({html.escape(summary(profile))})</small><br>"
            f"{html.escape(profile.description)}</label>{note}</div>"
        )
    return '<div class="podlab-profiles">' + "\n".join(rows) + "</div>"
