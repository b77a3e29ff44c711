"""Kubernetes' URL library, cel-go's sets extension and `strings.quote`, as upstream documents them."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import cel
from kubelite.api.crd import cel_rules
from kubelite.api.crd.validation import validate_crd
from kubelite.api.validation_admission_policy import compile_errors
from kubelite.apiserver.webhook_match import compiled

Obj = dict[str, Any]


def run(expression: str, **variables: Any) -> Any:
    program = cel.compile_expression(expression, variables={"self", *variables})
    return cel.from_cel(program.evaluate({k: cel.to_cel(v) for k, v in variables.items()}))


def failure(expression: str) -> str:
    with pytest.raises(cel.EvalError) as caught:
        run(expression)
    return caught.value.detail


# ---- URLs (k8s.io/apiserver/pkg/cel/library/urls.go) ------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # urls.go's doc comment, line by line
        ("url('/path').getScheme()", ""),
        ("url('https://example.com/').getScheme()", "https"),
        ("url('https://example.com:80/').getHost()", "example.com:80"),
        ("url('https://example.com/').getHost()", "example.com"),
        ("url('https://[::1]:80/').getHost()", "[::1]:80"),
        ("url('https://[::1]/').getHost()", "[::1]"),
        ("url('/path').getHost()", ""),
        ("url('https://example.com:80/').getHostname()", "example.com"),
        ("url('https://127.0.0.1:80/').getHostname()", "127.0.0.1"),
        ("url('https://[::1]:80/').getHostname()", "::1"),
        ("url('/path').getHostname()", ""),
        ("url('https://example.com:80/').getPort()", "80"),
        ("url('https://example.com/').getPort()", ""),
        ("url('/path').getPort()", ""),
        ("url('https://example.com/path').getEscapedPath()", "/path"),
        ("url('https://example.com/path with spaces/').getEscapedPath()", "/path%20with%20spaces/"),
        ("url('https://example.com').getEscapedPath()", ""),
        (
            "url('https://example.com/path?k1=a&k2=b&k2=c').getQuery()",
            {"k1": ["a"], "k2": ["b", "c"]},
        ),
        (
            "url('https://example.com/path?key with spaces=value with spaces').getQuery()",
            {"key with spaces": ["value with spaces"]},
        ),
        ("url('https://example.com/path?').getQuery()", {}),
        ("url('https://example.com/path').getQuery()", {}),
        ("url('https://example.com/?k=a&k=b&x=y').getQuery()", {"k": ["a", "b"], "x": ["y"]}),
        # and what Go's net/url does besides
        ("url('HTTPS://Example.com/').getScheme()", "https"),
        ("url('https://example.com/a%2Fb').getEscapedPath()", "/a%2Fb"),
        ("url('https://example.com/caf\u00e9').getEscapedPath()", "/caf%C3%A9"),
        (
            "url('https://example.com/?a=1+2&b=%41&c;d=x&=e').getQuery()",
            {"a": ["1 2"], "b": ["A"], "": ["e"]},
        ),
        ("url('https://user:pass@example.com:8080/p?q=1#frag').getHost()", "example.com:8080"),
        ("url('https://example.com/p#frag').getEscapedPath()", "/p"),
        ("url('https://example.com/?q=1#frag').getQuery()", {"q": ["1"]}),
        ("url('//example.com/p').getHost()", "example.com"),
        ("url('mailto:someone@example.com').getScheme()", "mailto"),
        ("url('*').getEscapedPath()", "*"),
    ],
)
def test_url_accessors(expression: str, expected: Any) -> None:
    assert run(expression) == expected


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("https://user:pass@example.com:80/path?query=val#fragment", True),
        ("/absolute-path", True),
        ("https://a:b:c/", False),
        ("../relative-path", False),
        ("https://example.com/", True),
        ("relative", False),
        ("", False),
        ("mailto:someone@example.com", True),
        ("https://[::1/", False),
        ("https://exa mple.com/", False),
        ("https://example.com/%zz", False),
        ("https://example.com/\n", False),
        (":no-scheme", False),
    ],
)
def test_is_url(text: str, valid: bool) -> None:
    assert run("isURL(self)", self=text) is valid
    if valid:
        assert run("url(self).getScheme() == url(self).getScheme()", self=text) is True


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("https://a:b:c/", 'parse "https://a:b:c/": invalid port ":c" after host'),
        ("../relative-path", 'parse "../relative-path": invalid URI for request'),
        ("", 'parse "": empty url'),
        ("https://[::1/", """parse "https://[::1/": missing ']' in host"""),
        (
            "https://exa mple.com/",
            'parse "https://exa mple.com/": invalid character " " in host name',
        ),
        ("https://example.com/%zz", 'parse "https://example.com/%zz": invalid URL escape "%zz"'),
        ("http://a\tb/", 'parse "http://a\\tb/": net/url: invalid control character in URL'),
        (":x", 'parse ":x": missing protocol scheme'),
    ],
)
def test_url_parse_errors_use_upstream_words(text: str, detail: str) -> None:
    with pytest.raises(cel.EvalError) as caught:
        run("url(self)", self=text)
    assert caught.value.detail == "URL parse error during conversion from string: " + detail


def test_url_functions_need_their_types() -> None:
    assert failure("url(1)") == "no such overload"
    assert failure("isURL(1)") == "no such overload"
    assert failure("'https://example.com'.getHost()") == "no such overload"


# ---- sets (cel-go ext/sets.go) --------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sets.contains([], [])", True),
        ("sets.contains([], [1])", False),
        ("sets.contains([1], [])", True),
        ("sets.contains([1, 2, 3, 4], [2, 3])", True),
        ("sets.contains([1, 2.0, 3u], [1.0, 2u, 3])", True),
        ("sets.equivalent([], [])", True),
        ("sets.equivalent([1], [1, 1])", True),
        ("sets.equivalent([1], [1u, 1.0])", True),
        ("sets.equivalent([1, 2, 3], [3u, 2.0, 1])", True),
        ("sets.equivalent([1, 2], [2, 1, 1])", True),
        ("sets.equivalent([1, 2], [1])", False),
        ("sets.intersects([1], [])", False),
        ("sets.intersects([], [1])", False),
        ("sets.intersects([1], [1, 2])", True),
        ("sets.intersects([[1], [2, 3]], [[1, 2], [2, 3.0]])", True),
        ("sets.intersects(['a'], ['b'])", False),
        ("sets.contains([{'a': 1}], [{'a': 1.0}])", True),
        ("sets.contains([true], [1])", False),
        ("sets.contains(['1'], [1])", False),
        ("sets.contains(self.tags, ['a']) && !sets.contains(self.tags, ['z'])", True),
    ],
)
def test_sets(expression: str, expected: bool) -> None:
    assert run(expression, self={"tags": ["a", "b"]}) is expected


def test_sets_need_two_lists() -> None:
    assert failure("sets.contains(1, [1])") == "no such overload"
    assert failure("sets.contains([1])") == "no such overload"


def test_a_namespace_function_wins_over_a_variable_of_that_name() -> None:
    program = cel.compile_expression("sets.contains([1], [1]) && sets.x == 2", variables={"sets"})
    assert program.references == {"sets"}
    assert cel.from_cel(program.evaluate({"sets": cel.to_cel({"x": 2})})) is True


def test_unknown_namespaced_functions_still_fail_to_compile() -> None:
    for text, detail in [
        ("sets.union([1], [2])", "'sets.union' of the Kubernetes CEL libraries is not supported"),
        ("math.greatest(1, 2)", "'math.greatest' of the Kubernetes CEL libraries is not supported"),
        ("strings.reverse('a')", "'strings.reverse' of the Kubernetes CEL libraries"),
        ("'a'.quote()", "undeclared reference to 'quote' (in container '')"),
        ("sets.contains(nope, [1])", "undeclared reference to 'nope' (in container '')"),
    ]:
        with pytest.raises(cel.CompileError) as caught:
            cel.compile_expression(text, variables={"self"})
        assert detail in caught.value.detail


# ---- strings.quote (cel-go ext/strings.go) ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("strings.quote('first\\nsecond')", '"first\\nsecond"'),
        (
            "strings.quote('single-quote with \"double quote\"')",
            '"single-quote with \\"double quote\\""',
        ),
        ('strings.quote("two escape sequences \\a\\n")', '"two escape sequences \\a\\n"'),
        ("strings.quote('\\b\\f\\r\\t\\v\\\\')", '"\\b\\f\\r\\t\\v\\\\"'),
        ("strings.quote('')", '""'),
        ("strings.quote('caf\u00e9 \U0001f600')", '"caf\u00e9 \U0001f600"'),
        ("strings.quote(self.name)", '"a\\tb"'),
    ],
)
def test_strings_quote(expression: str, expected: str) -> None:
    assert run(expression, self={"name": "a\tb"}) == expected


def test_strings_quote_needs_a_string() -> None:
    assert failure("strings.quote(1)") == "no such overload"


# ---- through the API server's paths -----------------------------------------------------


def crd(spec_schema: Obj) -> Obj:
    root = {"type": "object", "properties": {"spec": spec_schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "hooks.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "hooks", "kind": "Hook"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": root}}
            ],
        },
    }


SPEC = {
    "type": "object",
    "properties": {
        "endpoint": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string"}},
    },
    "x-kubernetes-validations": [
        {"rule": "isURL(self.endpoint)", "message": "endpoint must be a URL"},
        {
            "rule": "url(self.endpoint).getScheme() == 'https'",
            "messageExpression": "'scheme ' + strings.quote(url(self.endpoint).getScheme())",
        },
        {
            "rule": "sets.contains(['create', 'update', 'delete'], self.events)",
            "message": "unknown event",
        },
    ],
}


def hook(**spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Hook",
        "metadata": {"name": "h", "namespace": "default"},
        "spec": spec,
    }


def test_crd_rules_using_the_libraries_compile_and_run() -> None:
    assert validate_crd(crd(SPEC)) == []
    validator = cel_rules.build(crd(SPEC)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    assert validator is not None

    def errors(obj: Obj) -> list[str]:
        return [str(e) for e in cel_rules.validate_rules(validator, obj, None).errors]

    assert errors(hook(endpoint="https://example.com/hook", events=["create"])) == []
    assert errors(hook(endpoint="http://example.com/hook", events=["create", "patch"])) == [
        'spec: Invalid value: "object": scheme "http"',
        'spec: Invalid value: "object": unknown event',
    ]
    assert errors(hook(endpoint="../relative", events=[])) == [
        'spec: Invalid value: "object": endpoint must be a URL',
        'spec: Invalid value: "object": URL parse error during conversion from string: '
        'parse "../relative": invalid URI for request evaluating rule: '
        "url(self.endpoint).getScheme() == 'https'",
    ]


def test_admission_expressions_may_use_the_libraries() -> None:
    text = "isURL(object.spec.url) && sets.intersects(request.userInfo.groups, ['admins'])"
    assert compile_errors(text, "spec.validations[0].expression") == []
    assert isinstance(compiled(text), cel.Program)
