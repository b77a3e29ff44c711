"""Name and format validators: exact apimachinery messages."""

from __future__ import annotations

import pytest

from kubelite.api import names

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name' or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
KEY_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def test_regex_error_joins_examples_like_go():
    # Go: "(e.g. 'a' or 'b', regex used ...)"
    assert (
        names.regex_error("m", "f", "a", "b")
        == "m (e.g. 'a' or 'b', regex used for validation is 'f')"
    )
    assert names.regex_error("m", "f") == "m (regex used for validation is 'f')"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("example.com", [], id="valid"),
        pytest.param("a", [], id="single-char"),
        pytest.param("Example.com", [SUBDOMAIN_MSG], id="upper-case"),
        pytest.param("-a", [SUBDOMAIN_MSG], id="leading-dash"),
        pytest.param("a..b", [SUBDOMAIN_MSG], id="empty-label"),
        pytest.param("", [SUBDOMAIN_MSG], id="empty"),
        pytest.param("a" * 254, ["must be no more than 253 characters"], id="too-long"),
        pytest.param(
            "A" * 254, ["must be no more than 253 characters", SUBDOMAIN_MSG], id="too-long-and-bad"
        ),
    ],
)
def test_is_dns1123_subdomain(value, expected):
    assert names.is_dns1123_subdomain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("my-name", [], id="valid"),
        pytest.param("123-abc", [], id="leading-digit"),
        pytest.param("a.b", ["must not contain dots"], id="dots"),
        pytest.param("my_name", [LABEL_MSG], id="underscore"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
    ],
)
def test_is_dns1123_label(value, expected):
    assert names.is_dns1123_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("my-svc", [], id="valid"),
        pytest.param("1svc", [DNS1035_MSG], id="leading-digit"),
        pytest.param("a.b", [DNS1035_MSG], id="dots"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
    ],
)
def test_is_dns1035_label(value, expected):
    assert names.is_dns1035_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("app", [], id="plain"),
        pytest.param("example.com/MyName", [], id="prefixed"),
        pytest.param("app_1.x-y", [], id="all-chars"),
        pytest.param("-app", [KEY_NAME_MSG], id="leading-dash"),
        pytest.param("/app", ["prefix part must be non-empty"], id="empty-prefix"),
        pytest.param("Example.com/app", ["prefix part " + SUBDOMAIN_MSG], id="bad-prefix"),
        pytest.param("a/", ["name part must be non-empty", KEY_NAME_MSG], id="empty-name"),
        pytest.param("a" * 64, ["name part must be no more than 63 characters"], id="too-long"),
        pytest.param(
            "a/b/c",
            [
                "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName' or 'my.name' or "
                "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
                "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ],
            id="two-slashes",
        ),
    ],
)
def test_is_qualified_name(value, expected):
    assert names.is_qualified_name(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("", [], id="empty-ok"),
        pytest.param("v1.2_x-y", [], id="valid"),
        pytest.param("bad value", [LABEL_VALUE_MSG], id="space"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
    ],
)
def test_is_valid_label_value(value, expected):
    assert names.is_valid_label_value(value) == expected


@pytest.mark.parametrize(
    ("kind", "name", "prefix", "ok"),
    [
        pytest.param("Pod", "web.v1", False, True, id="pod-subdomain"),
        pytest.param("ConfigMap", "cfg.d", False, True, id="configmap-subdomain"),
        pytest.param("Deployment", "go-app.v2", False, True, id="deployment-subdomain"),
        pytest.param("Service", "web.v1", False, False, id="service-no-dots"),
        pytest.param("Service", "1web", False, False, id="service-dns1035"),
        pytest.param("Namespace", "team.a", False, False, id="namespace-label"),
        pytest.param("StatefulSet", "db.v1", False, False, id="statefulset-label"),
        pytest.param("Pod", "web-", True, True, id="generate-name-trailing-dash"),
        pytest.param("Pod", "web-", False, False, id="name-trailing-dash"),
    ],
)
def test_validate_object_name_rule_per_kind(kind, name, prefix, ok):
    assert (names.validate_object_name(kind, name, prefix) == []) is ok


def test_service_name_message_is_dns1035():
    assert names.validate_object_name("Service", "1web") == [DNS1035_MSG]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http", [], id="valid"),
        pytest.param("a" * 16, ["must be no more than 15 characters"], id="too-long"),
        pytest.param(
            "HTTP",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
            id="upper",
        ),  # fmt: skip
        pytest.param("80", ["must contain at least one letter (a-z)"], id="digits"),
        pytest.param("a--b", ["must not contain consecutive hyphens"], id="double-hyphen"),
        pytest.param("-ab", ["must not begin or end with a hyphen"], id="leading-hyphen"),
    ],
)
def test_is_valid_port_name(value, expected):
    assert names.is_valid_port_name(value) == expected


def test_port_num_range():
    assert names.is_valid_port_num(65535) == []
    assert names.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("key.name", [], id="valid"),
        pytest.param("..a", ["must not start with '..'"], id="dotdot-prefix"),
        pytest.param(".", ["must not be '.'"], id="dot"),
        pytest.param(
            "a b",
            [
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                "(e.g. 'key.name' or 'KEY_NAME' or 'key-name', regex used for validation is "
                "'[-._a-zA-Z0-9]+')"
            ],
            id="space",
        ),
    ],
)
def test_is_config_map_key(value, expected):
    assert names.is_config_map_key(value) == expected


def test_env_var_names_relaxed_and_strict():
    assert names.is_relaxed_env_var_name("1FOO") == []
    assert names.is_relaxed_env_var_name("A=B") == [
        "a valid environment variable name must consist only of printable ASCII characters other than '='"
    ]
    assert names.is_env_var_name("1FOO") == [
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
        "or '.', and must not start with a digit (e.g. 'my.env-name' or 'MY_ENV.NAME' or "
        "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("10.0.0.1", [], id="v4"),
        pytest.param("2001:db8::1", [], id="v6"),
        pytest.param(
            "nope", ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"], id="bad"
        ),
        pytest.param("010.0.0.1", ["must not have leading 0s"], id="leading-zero"),
        pytest.param(
            "2001:DB8::1", ['must be in canonical form ("2001:db8::1")'], id="non-canonical"
        ),
    ],
)
def test_ip_errors(value, expected):
    assert names.ip_errors(value) == expected


def test_percent():
    assert names.is_valid_percent("25%") == []
    assert names.is_valid_percent("25") == [
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or "
        "'93%', regex used for validation is '[0-9]+%')"
    ]
