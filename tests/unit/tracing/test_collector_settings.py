"""Trace retention settings for `kubelite up`: environment, options, and bad values."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kubelite.tracing.component import (
    Retention,
    SettingError,
    TracingCollector,
    retention_settings,
)
from kubelite.tracing.store import DEFAULT_MAX_AGE_S, DEFAULT_MAX_SPANS


def test_defaults_without_settings() -> None:
    assert Retention.from_settings({}, {}) == Retention(DEFAULT_MAX_AGE_S, DEFAULT_MAX_SPANS, None)


def test_the_environment_sets_age_count_and_size() -> None:
    environ = {
        "KUBELITE_TRACES_MAX_AGE": "3600",
        "KUBELITE_TRACES_MAX_SPANS": "1000",
        "KUBELITE_TRACES_MAX_MB": "1.5",
    }
    assert Retention.from_settings({}, environ) == Retention(3600.0, 1000, 1_572_864)


def test_options_win_over_the_environment() -> None:
    retention = Retention.from_settings({"max_spans": 5}, {"KUBELITE_TRACES_MAX_SPANS": "9"})
    assert retention.max_spans == 5


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_a_bad_value_names_its_variable(value: str) -> None:
    with pytest.raises(
        SettingError, match=f"KUBELITE_TRACES_MAX_MB must be a positive number, got '{value}'"
    ):
        Retention.from_settings({}, {"KUBELITE_TRACES_MAX_MB": value})


def test_kubelite_up_logs_a_bad_value_and_keeps_the_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KUBELITE_TRACES_MAX_SPANS", "many")
    with caplog.at_level(logging.ERROR):
        assert retention_settings() == Retention()
    assert "KUBELITE_TRACES_MAX_SPANS must be a positive number" in caplog.text


def test_the_collector_hands_its_retention_to_the_store(tmp_path: Path) -> None:
    collector = TracingCollector(
        tmp_path / "traces.db", retention=Retention(60.0, 10, 1 << 20), trace_platform=False
    )
    store = collector.store
    assert (store.max_age_s, store.max_spans, store.max_bytes) == (60.0, 10, 1 << 20)
    assert collector.platform is None
    store.close()
