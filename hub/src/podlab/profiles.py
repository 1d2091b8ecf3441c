"""Which profile a spawn request gets, and the form that asks: one rule for both spawners.

A request names a profile by slug and nothing else (`{"profile": slug}`, or `{}` for the
default), whether it comes from the spawn form or the REST API; anything else fails the spawn
before any object is created, with one wording on Kubernetes and locally. What "available"
means is the spawner's to say: the local spawner knows it from the machine's GPUs, the
Kubernetes spawner from the cluster's nodes (k8s/capacity.py, checked in its ensure step).
The form shows one radio button per profile, each with what it gives and, where it cannot
start as usual, why (greyed out when it cannot start at all).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tornado import web

from podlab.config import PodlabConfig, Profile

PROFILE_KEY = "profile"
"""The one spawn option podlab accepts: the chosen profile's slug."""
FORM_IGNORED_FIELDS = frozenset({"_xsrf"})
"""Fields JupyterHub's own spawn form adds (checked by the hub); every other field must be
`profile`."""

Unavailable = Callable[[Profile], str | None]
"""Why a profile cannot start here (None: it can), e.g. "needs 1 GPU; this machine has 0"."""


class ProfileChoiceError(ValueError):
    """A spawn request names no profile the user may start; the message says which they may."""

    @property
    def jupyterhub_message(self) -> str:
        """What JupyterHub shows the user (REST API error body, spawn page) instead of a 500."""
        return str(self)


class SpawnRefused(web.HTTPError):
    """A refused spawn request: 400, and JupyterHub shows the message as is (in the API reply,
    and above the form shown again), not a 500."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "%s", message)
        self.jupyterhub_message = message


def _available(_profile: Profile) -> str | None:
    return None


def choose_profile(
    config: PodlabConfig, user_options: Any, unavailable: Unavailable = _available
) -> Profile:
    """The profile a spawn request asks for: `{}` (or None) the default, else exactly
    `{"profile": slug}` naming a configured profile that `unavailable` lets start."""
    choices = ", ".join(p.slug for p in config.profiles if unavailable(p) is None) or "none"
    if user_options is None or user_options == {}:
        profile = config.default_profile
    else:
        profile = _named_profile(config, user_options, choices)
    reason = unavailable(profile)
    if reason:
        raise ProfileChoiceError(
            f"profile {profile.slug!r} is not available here: {reason}; choose one of: {choices}"
        )
    return profile


def _named_profile(config: PodlabConfig, user_options: Any, choices: str) -> Profile:
    if not isinstance(user_options, Mapping):
        raise ProfileChoiceError(
            f"spawn options must be an object like {{'{PROFILE_KEY}': '<slug>'}}, got "
            f"{type(user_options).__name__}; profiles: {choices}"
        )
    extra = sorted(str(k) for k in user_options if k != PROFILE_KEY)
    if extra:
        raise ProfileChoiceError(
            f"unexpected spawn option(s) {', '.join(map(repr, extra))}: podlab accepts only "
            f"'{PROFILE_KEY}' (one of: {choices})"
        )
    slug = user_options.get(PROFILE_KEY)
    if not isinstance(slug, str) or not slug:
        raise ProfileChoiceError(
            f"{PROFILE_KEY} must be a profile slug (one of: {choices}), got {slug!r}"
        )
    found = next((p for p in config.profiles if p.slug == slug), None)
    if found is None:
        raise ProfileChoiceError(f"unknown profile {slug!r}; choose one of: {choices}")
    return found


def options_from_form(formdata: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """The spawn form carries one `profile` field; a tampered form fails, it is not cleaned."""
    extra = sorted(k for k in formdata if k != PROFILE_KEY and k not in FORM_IGNORED_FIELDS)
    if extra:
        raise ProfileChoiceError(
            f"unexpected field(s) in the spawn form: {', '.join(map(repr, extra))}; "
            "choose a profile and submit the form again"
        )
    values = formdata.get(PROFILE_KEY) or []
    if len(values) > 1:
        raise ProfileChoiceError("the spawn form must name exactly one profile")
    return {PROFILE_KEY: str(values[0])} if values else {}


def form_choice(
    config: PodlabConfig,
    formdata: Mapping[str, Sequence[Any]],
    unavailable: Unavailable = _available,
) -> dict[str, str]:
    """A spawner's `options_from_form`: the chosen slug (the default's for an empty form), so
    a bad choice is refused in the form, with the valid slugs, and the server records which
    profile it runs (the culler reads it)."""
    try:
        profile = choose_profile(config, options_from_form(formdata), unavailable)
    except ProfileChoiceError as err:
        raise SpawnRefused(str(err)) from None
    return {PROFILE_KEY: profile.slug}


# -- the form --------------------------------------------------------------------------------
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
