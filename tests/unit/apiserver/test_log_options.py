"""pods/log options decoded and validated as kube-apiserver does."""

from __future__ import annotations

import pytest

from kubelite.apiserver import errors, log_options


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sinceSeconds": "abc"}, 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ({"tailLines": "x"}, 'strconv.ParseInt: parsing "x": invalid syntax'),
        (
            {"tailLines": "99999999999999999999"},
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
        (
            {"sinceTime": "bogus"},
            'parsing time "bogus" as "2006-01-02T15:04:05Z07:00": cannot parse "bogus" as "2006"',
        ),
    ],
)
def test_values_that_do_not_decode_are_a_bad_request(query: dict[str, str], message: str) -> None:
    with pytest.raises(errors.BadRequest) as err:
        log_options.parse(query, "p")
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("query", "causes"),
    [
        ({"tailLines": "-1"}, ["tailLines: Invalid value: -1: must be greater than or equal to 0"]),
        ({"limitBytes": "0"}, ["limitBytes: Invalid value: 0: must be greater than 0"]),
        ({"sinceSeconds": "0"}, ["sinceSeconds: Invalid value: 0: must be greater than 0"]),
        (
            {"sinceSeconds": "5", "sinceTime": "2020-01-01T00:00:00Z"},
            [": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"],
        ),
    ],
)
def test_out_of_range_values_are_invalid(query: dict[str, str], causes: list[str]) -> None:
    with pytest.raises(errors.Invalid) as err:
        log_options.parse(query, "p")
    status = err.value
    assert str(status).startswith('PodLogOptions "p" is invalid: ')
    got = [f"{c['field']}: {c['message']}" for c in status.details["causes"]]
    assert got == causes


def test_flags_are_true_unless_zero_or_false() -> None:
    query = {"timestamps": "yes", "follow": "False", "previous": "0"}
    assert log_options.parse(query, "p") == {
        "timestamps": "true",
        "follow": "false",
        "previous": "false",
    }


def test_good_options_reach_the_node_in_one_spelling() -> None:
    query = {"tailLines": " 10 ", "limitBytes": "+5", "sinceTime": "2020-01-01T01:00:00+01:00"}
    assert log_options.parse(query, "p") == {
        "tailLines": "10",
        "limitBytes": "5",
        "sinceTime": "2020-01-01T00:00:00Z",
    }
