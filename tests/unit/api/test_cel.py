"""The shared CEL wrapper: compile checks, evaluation, the budget, the library functions."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from kubelite.api import cel


def run(expression: str, **variables: Any) -> Any:
    program = cel.compile_expression(expression, variables={"self", *variables})
    return cel.from_cel(program.evaluate({k: cel.to_cel(v) for k, v in variables.items()}))


SELF = {"name": "Hello", "items": [3, 1, 2], "labels": {"app": "web"}, "mem": "1Gi", "n": 2}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("self.n == 2", True),
        ("self.n + 1", 3),
        ("has(self.labels.app)", True),
        ("has(self.labels.tier)", False),
        ("'app' in self.labels", True),
        ("size(self.items) == 3 && self.items.size() == 3", True),
        ("self.items.all(x, x > 0)", True),
        ("self.items.exists(x, x > 2)", True),
        ("self.items.exists_one(x, x > 2)", True),
        ("self.items.map(x, x * 2)", [6, 2, 4]),
        ("self.items.filter(x, x > 1)", [3, 2]),
        ("self.labels.all(k, k == 'app')", True),
        ("self.name.startsWith('He') && self.name.endsWith('lo')", True),
        ("self.name.contains('ell')", True),
        ("self.name.matches('^H[a-z]+$')", True),
        ("self.name.lowerAscii()", "hello"),
        ("self.name.upperAscii()", "HELLO"),
        ("self.name.indexOf('l')", 2),
        ("self.name.lastIndexOf('l')", 3),
        ("self.name.substring(1, 3)", "el"),
        ("self.name.replace('l', 'L')", "HeLLo"),
        ("self.name.split('l')", ["He", "", "o"]),
        ("['a', 'b'].join('-')", "a-b"),
        ("' x '.trim()", "x"),
        ("self.name.find('l+')", "ll"),
        ("self.items.isSorted()", False),
        ("self.items.sum()", 6),
        ("self.items.min()", 1),
        ("self.items.max()", 3),
        ("quantity(self.mem).isGreaterThan(quantity('512Mi'))", True),
        ("quantity('1') == quantity('1000m')", True),
        ("isQuantity('abc')", False),
        ("quantity('1k').asInteger()", 1000),
        ("dyn(self.n) == 2", True),
        ("type(self.name) == string", True),
        ("self.n > 1 ? 'big' : 'small'", "big"),
        (
            "'%s has %d items (%.1f%%)'.format([self.name, size(self.items), 12.34])",
            "Hello has 3 items (12.3%)",
        ),
        ("'%s %s %s'.format([true, null, [1, 'a']])", "true null [1, a]"),
        ("'%x %X %b %o'.format([255, 'hi', 5, 8])", "ff 6869 101 10"),
        ("isIP('10.0.0.1') && !isIP('::ffff:1.2.3.4') && !isIP('fe80::1%eth0')", True),
        ("ip('10.1.2.3').family() == 4 && ip('::1').isLoopback()", True),
        ("ip('10.1.2.3').isGlobalUnicast() && !ip('169.254.0.1').isGlobalUnicast()", True),
        (
            "cidr('10.0.0.0/8').containsIP('10.2.3.4') && !cidr('10.0.0.0/8').containsIP('11.0.0.1')",
            True,
        ),
        ("cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8')", True),
        (
            "string(cidr('10.1.2.3/8').ip()) + '/' + string(cidr('10.1.2.3/8').prefixLength())",
            "10.1.2.3/8",
        ),
        (
            "cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16') && isCIDR('::/0') && !isCIDR('1.2.3.4')",
            True,
        ),
        # Kubernetes' CEL compares numbers across types; different types are unequal.
        ("self.n < 2.5 && self.n == 2.0 && 2u == self.n", True),
        ("self.name == 1 || true == 1", False),
        ("self.name != 1", True),
    ],
)
def test_evaluates_like_upstream(expression: str, expected: Any) -> None:
    assert run(expression, self=SELF) == expected


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        # column 1: the undeclared variable itself; the caret line points at it
        ("foo == 1", "ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')"),
        # column 8: the method name after `self.n.`
        ("self.n.nope()", "ERROR: <input>:1:8: undeclared reference to 'nope' (in container '')"),
        ("self.n ==", "ERROR: <input>:1:10: Syntax error: mismatched input '<EOF>'"),
        ("self.n $ 1", "ERROR: <input>:1:8: Syntax error: token recognition error at: '$'"),
        ("semver('1.0.0')", "'semver' of the Kubernetes CEL libraries is not supported"),
        ("math.greatest(1, 2)", "'math.greatest' of the Kubernetes CEL libraries is not supported"),
        ("self.items.all(x, y > 0)", "undeclared reference to 'y'"),
        ("self.?labels.orValue({})", "optional syntax ('.?', '[?', '{?') is not supported"),
        ("optional.of(1)", "'optional.of' of the Kubernetes CEL libraries is not supported"),
    ],
)
def test_compile_errors_name_the_problem(expression: str, detail: str) -> None:
    with pytest.raises(cel.CompileError) as caught:
        cel.compile_expression(expression, variables={"self"})
    assert caught.value.detail.startswith("compilation failed: ")
    assert detail in caught.value.detail


def test_compile_error_shows_the_source_with_a_caret() -> None:
    with pytest.raises(cel.CompileError) as caught:
        cel.compile_expression("self.x == bad", variables={"self"})
    assert caught.value.detail.endswith("\n | self.x == bad\n | ..........^")


def test_references_list_the_declared_variables_used() -> None:
    program = cel.compile_expression("self.a == oldSelf.a", variables={"self", "oldSelf"})
    assert program.references == {"self", "oldSelf"}
    assert cel.compile_expression("self.a", variables={"self", "oldSelf"}).references == {"self"}


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("self.missing == 1", "no such key: missing"),
        ("1 / (self.n - 2)", "division by zero"),
        ("self.items[7]", "index out of range"),
        ("self.name + 1", "no such overload"),
        ("9223372036854775807 + self.n", "integer overflow"),
    ],
)
def test_evaluation_errors_use_cel_go_words(expression: str, detail: str) -> None:
    with pytest.raises(cel.EvalError) as caught:
        run(expression, self=SELF)
    assert caught.value.detail == detail


def test_a_runaway_expression_stops_at_the_limit() -> None:
    program = cel.compile_expression(
        "self.all(a, self.all(b, self.all(c, a + b + c > 0)))", variables={"self"}
    )
    big = cel.to_cel(list(range(1, 60)))  # 59^3 inner evaluations: far past any small limit
    with pytest.raises(cel.CostExceeded) as caught:
        program.evaluate({"self": big}, limit=5_000)
    assert caught.value.detail == cel.COST_EXCEEDED


def test_run_reports_the_cost_it_took() -> None:
    program = cel.compile_expression("self.all(x, x > 0)", variables={"self"})
    _, small = program.run({"self": cel.to_cel([1])})
    _, large = program.run({"self": cel.to_cel(list(range(1, 11)))})
    assert 0 < small < large


def test_schema_makes_integral_json_numbers_doubles() -> None:
    program = cel.compile_expression("self.ratio < 2.5", variables={"self"})
    schema = {"type": "object", "properties": {"ratio": {"type": "number"}}}
    value = cel.to_cel({"ratio": 2}, schema)
    assert cel.is_true(program.evaluate({"self": value}))


def test_optional_values() -> None:
    program = cel.compile_expression(
        "oldSelf.hasValue() ? oldSelf.value() == self : self > 0",
        variables={"self", "oldSelf"},
    )
    some, none = cel.Optional(True, cel.to_cel(3)), cel.Optional(False)
    assert cel.is_true(program.evaluate({"self": cel.to_cel(3), "oldSelf": some}))
    assert not cel.is_true(program.evaluate({"self": cel.to_cel(4), "oldSelf": some}))
    assert cel.is_true(program.evaluate({"self": cel.to_cel(4), "oldSelf": none}))


def test_only_true_passes() -> None:
    assert cel.is_true(cel.to_cel(True))
    assert not cel.is_true(cel.to_cel(1))
    assert not cel.is_true(cel.to_cel("true"))


def test_importing_kubelite_api_does_not_load_the_cel_library() -> None:
    code = (
        "import sys, kubelite.api.cel, kubelite.api.crd, kubelite.apiserver.customresources,"
        " kubelite.api.validation, kubelite.apiserver.webhooks, kubelite.apiserver.rest;"
        "print('celpy' in sys.modules, 'lark' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_has_on_a_missing_parent_is_an_error() -> None:
    assert run("has(self.labels.app) && !has(self.labels.tier)", self=SELF) is True
    with pytest.raises(cel.EvalError) as caught:
        run("has(self.nothere.app)", self=SELF)
    assert caught.value.detail == "no such key: nothere"


def test_the_api_server_starts_without_the_cel_modules() -> None:
    lazy = (
        "kubelite.api.cel",
        "kubelite.api.cel_library",
        "kubelite.api.crd.cel_rules",
        "kubelite.apiserver.admission_policy",
        "kubelite.apiserver.webhook_match",
    )
    code = (
        "import sys, kubelite.apiserver.rest, kubelite.apiserver.http;"
        f"print([m for m in {lazy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cel_python_never_logs_values_below_warning() -> None:
    import logging

    run("self.n == 2", self=SELF)
    assert logging.getLogger("celpy").getEffectiveLevel() >= logging.WARNING
