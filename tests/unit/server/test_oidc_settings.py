"""The OIDC key fetching settings read from the environment (``bootstrap.oidc_from_env``)."""

from __future__ import annotations

import pytest

from tessera.server.bootstrap import ConfigError, oidc_from_env


def test_defaults() -> None:
    settings = oidc_from_env({}).settings
    assert (settings.timeout, settings.allow_private, settings.max_fetches) == (5.0, True, 2)


def test_timeout_and_private_addresses() -> None:
    settings = oidc_from_env({"TESSERA_OIDC_TIMEOUT_SECONDS": "2.5", "TESSERA_OIDC_ALLOW_PRIVATE": "0"}).settings
    assert (settings.timeout, settings.allow_private) == (2.5, False)


@pytest.mark.parametrize(
    "env",
    [
        {"TESSERA_OIDC_TIMEOUT_SECONDS": "0"},
        {"TESSERA_OIDC_TIMEOUT_SECONDS": "601"},
        {"TESSERA_OIDC_TIMEOUT_SECONDS": "soon"},
        {"TESSERA_OIDC_TIMEOUT_SECONDS": "nan"},
        {"TESSERA_OIDC_ALLOW_PRIVATE": "yes"},
    ],
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        oidc_from_env(env)
