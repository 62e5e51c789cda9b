"""The environment every daemon's client reads: a deprecated name still works, and the
daemon's log says once which name to set instead."""

from __future__ import annotations

import logging

import pytest

from corral import client


def test_a_deprecated_tls_variable_is_read_and_logged_once(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(client, "_warned", set())
    ca = tmp_path / "ca.pem"
    monkeypatch.delenv("CORRAL_CA_FILE", raising=False)
    monkeypatch.setenv("CORRAL_CA_CERT", str(ca))
    with caplog.at_level(logging.WARNING, logger="corral.client"):
        for _ in range(3):  # daemons make a Client per task: one line, not one each
            with pytest.raises(client.StoreError, match=str(ca)):
                client.Client("https://127.0.0.1:1").get("/k")
    lines = [r.getMessage() for r in caplog.records if r.name == "corral.client"]
    assert lines == ["$CORRAL_CA_CERT is deprecated and will stop working: set $CORRAL_CA_FILE "
                     "instead"]  # fmt: skip


def test_the_new_name_wins_over_the_deprecated_one(monkeypatch):
    monkeypatch.setenv("CORRAL_CA_CERT", "/old.pem")
    monkeypatch.setenv("CORRAL_CA_FILE", "/new.pem")
    assert client.env_setting(client.CA_FILE_ENV) == "/new.pem"
