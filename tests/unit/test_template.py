"""cli/template/: Go's text/template as docker's --format runs it. Each
construct against what Go prints, Go's error messages, docker's table
(headers and text/tabwriter alignment), and a hostile template: no Python
attribute or callable is ever reached, and range, recursion and output are bounded."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ketch.cli._format import go_quote
from ketch.cli.template import (
    MAX_OUTPUT,
    GoMap,
    Method,
    Row,
    TemplateError,
    format_rows,
    go_float,
    go_maps,
    probe,
    render,
    tabwrite,
)

DATA: dict[str, Any] = {
    "ID": "0123456789abcdef",
    "Names": ["web", "db"],
    "NetworkSettings": {"IPAddress": "172.17.0.2", "Ports": {}},
    "Config": {"Labels": GoMap({"com.example.tier": "front", "b": "2"}), "Env": None},
    "State": {"Running": True, "Pid": 42, "ExitCode": 0},
    "Count": 3,
    "Empty": "",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.ID}}", "0123456789abcdef"),
        ("plain text", "plain text"),
        ("{{.NetworkSettings.IPAddress}}", "172.17.0.2"),
        ("{{json .State}}", '{"Running":true,"Pid":42,"ExitCode":0}'),  # a document's order, as docker's structs
        ("{{json .Config.Labels}}", '{"b":"2","com.example.tier":"front"}'),  # a map's keys sorted, as Go's
        ("{{.Config.Labels | json}}", '{"b":"2","com.example.tier":"front"}'),
        ('{{json "a<b>&"}}', '"a<b>&"'),  # docker's json does not escape HTML
        ("{{range .Names}}[{{.}}]{{end}}", "[web][db]"),
        ("{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}", "0=web 1=db "),
        ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}", "b:2;com.example.tier:front;"),
        ("{{range .Config.Env}}x{{else}}none{{end}}", "none"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ('{{range .Names}}{{if eq . "web"}}{{continue}}{{end}}{{.}}{{end}}', "db"),
        ("{{range .Names}}{{.}}{{break}}{{end}}", "web"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Empty}}a{{else if .Count}}b{{else}}c{{end}}", "b"),
        ("{{if and .State.Running (gt .Count 2)}}yes{{end}}", "yes"),
        ("{{if or .Empty .Count}}{{or .Empty .Count}}{{end}}", "3"),
        ("{{if not .Empty}}empty{{end}}", "empty"),
        ("{{with .NetworkSettings}}{{.IPAddress}}{{end}}", "172.17.0.2"),
        ("{{with .Empty}}x{{else with .Count}}{{.}}{{end}}", "3"),
        ('{{index .Config.Labels "com.example.tier"}}', "front"),
        ('{{index .Config.Labels "nothing"}}', ""),  # a Go map's zero value
        ('{{index .Config.Env "k"}}', ""),  # a nil map (JSON null) too
        ("{{index .Names 1}}", "db"),
        ('{{join .Names ","}}', "web,db"),
        ('{{join (split "a:b:c" ":") "-"}}', "a-b-c"),
        ('{{upper "abc"}} {{lower "ABC"}} {{title "hello big-world"}}', "ABC abc Hello Big-World"),
        ("{{println .Count}}x", "3\nx"),
        ('{{println "a" 1 "b"}}', "a 1 b\n"),
        ('{{print 1 2 "x" 3}}', "1 2x3"),  # Go: spaces between operands only when neither is a string
        ("{{len .Names}} {{len .ID}} {{len .Config.Labels}}", "2 16 2"),
        ('{{printf "%s|%5d|%-4s|%q|%v|%x" .Empty .Count "ab" "q" .Names 255}}', '|    3|ab  |"q"|[web db]|ff'),
        ("{{slice .ID 0 4}}", "0123"),
        ('{{pad "x" 2 1}}|{{pad "" 2 1}}', "  x |"),
        ('{{truncate "abcdef" 3}}', "abc"),
        (
            '{{eq .Count 3}} {{ne .Count 3}} {{lt 1 2}} {{le 2 2}} {{ge "b" "a"}} {{eq "a" "b" "a"}}',
            "true false true true true true",
        ),
        ("a  {{- .Count -}}  b", "a3b"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("{{/* only a comment */}}", ""),
        ("{{$x := .Count}}{{$x}}{{$x = 7}}{{$x}}", "37"),
        ("{{range .Names}}{{$.Count}}{{end}}", "33"),
        ("{{(index .Names 0)}} {{(.NetworkSettings).IPAddress}}", "web 172.17.0.2"),
        ('{{define "row"}}<{{.}}>{{end}}{{range .Names}}{{template "row" .}}{{end}}', "<web><db>"),
        ('{{block "b" .Count}}[{{.}}]{{end}}', "[3]"),
        ("{{.Config.Env}} {{.Config.Labels.nothing}}", "<nil> <no value>"),
        ("{{.State}}", "map[ExitCode:0 Pid:42 Running:true]"),
        ("{{1.5}} {{1e8}} {{-3}} {{0x1F}} {{'a'}} {{true}} {{nil}}", "1.5 1e+08 -3 31 97 true <nil>"),
        ('{{"a\\tb"}}{{`raw\\t`}}', "a\tbraw\\t"),
        ('{{html "<a href=\'x\'>"}} {{js "it\'s"}} {{urlquery "a b&c"}}', "&lt;a href=&#39;x&#39;&gt; it\\'s a+b%26c"),
    ],
)
def test_each_construct_prints_what_go_prints(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.ID", "template: :1: unclosed action"),
        ("{{foo .ID}}", 'template: :1: function "foo" not defined'),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{if .ID}}x", "template: :1: unexpected EOF"),
        ("{{$y}}", 'template: :1: undefined variable "$y"'),
        ("{{.ID | 3}}", "template: :1: non executable command in pipeline stage 2"),
        ('{{"unterminated}}', "template: :1: unterminated quoted string"),
        ("a\n{{/* unclosed", "template: :2: unclosed comment"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{if 1}}{{break}}{{end}}", "template: :1: {{break}} outside {{range}}"),
    ],
)
def test_a_bad_template_is_gos_parse_error(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        render(template, DATA)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("template", "at", "message"),
    [
        ("{{index .Names 5}}", ":1:2", "<index .Names 5>: error calling index: index out of range: 5"),
        ("{{len .Count}}", ":1:2", "<len .Count>: error calling len: len of type int"),
        ("{{index .Count 1}}", ":1:2", "<index .Count 1>: error calling index: can't index item of type int"),
        ("x\n {{.Nope}}", ":2:3", '<.Nope>: map has no entry for key "Nope"'),
        ("{{.ID.Sub}}", ":1:2", "<.ID.Sub>: can't evaluate field Sub in type string"),
        ("{{.Config.Env.X}}", ":1:2", "<.Config.Env.X>: nil pointer evaluating interface {}.X"),
        ('{{eq .Count "3"}}', ":1:2", '<eq .Count "3">: error calling eq: incompatible types for comparison'),
        ("{{range .ID}}{{end}}", ":1:2", "<range .ID>: range can't iterate over 0123456789abcdef"),
    ],
)
def test_a_failing_template_is_gos_exec_error(template: str, at: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        render(template, DATA, missing_error=True)
    assert str(e.value) == f'template: {at}: executing "" at {message}'


def test_a_missing_key_is_no_value_unless_docker_makes_it_an_error() -> None:
    assert render("{{.Nope}}", DATA) == "<no value>"
    # docker inspect runs with missingkey=error, yet its maps (labels...) still answer <no value>
    doc = go_maps({"Config": {"Labels": {"a": "1"}}})
    assert render("{{.Config.Labels.b}}", doc, missing_error=True) == "<no value>"
    with pytest.raises(TemplateError, match='map has no entry for key "Nope"'):
        render("{{.Config.Nope}}", doc, missing_error=True)


def test_a_row_is_fields_only_and_methods_are_called_when_read() -> None:
    calls: list[str] = []

    def size() -> str:
        calls.append("size")
        return "1kB"

    row = Row("*formatter.ContainerContext", {"ID": "abc", "Size": Method(size), "Label": Method(lambda k: k * 2, 1)})
    assert render("{{.ID}}", row) == "abc" and calls == []  # not computed unless used
    assert render('{{.Size}} {{.Label "k"}} {{"z" | .Label}}', row) == "1kB kk zz"
    assert render("{{json .}}", row) == '{"ID":"abc","Size":"1kB"}'  # every field taking no argument, sorted
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type \*formatter.ContainerContext"):
        render("{{.Nope}}", row)
    with pytest.raises(TemplateError, match="wrong number of args for Label: want 1 got 0"):
        render("{{.Label}}", row)
    for go_struct_only in ("{{len .}}", '{{index . "ID"}}', "{{range .}}{{end}}"):
        with pytest.raises(TemplateError, match=r"\*formatter.ContainerContext|can't iterate"):
            render(go_struct_only, row)


@pytest.mark.parametrize(
    "template",
    [
        "{{.__class__}}",
        "{{.__class__.__init__.__globals__}}",
        '{{index . "__class__"}}',
        "{{.type_name}}{{._fields}}{{.strict}}",
        "{{.keys}}{{.items}}{{.get}}{{.plain}}",
        "{{.ID.upper}}{{.ID.__len__}}",
    ],
)
def test_no_python_attribute_is_reachable(template: str) -> None:
    row = Row("*formatter.ContainerContext", {"ID": "abc"}, strict=False)
    for data in (DATA, row, GoMap({"ID": "abc"})):
        try:
            text = render(template, data)
        except TemplateError:
            continue
        assert "class" not in text and "function" not in text and "abc" not in text.replace("<no value>", "")


def test_a_python_callable_in_the_data_is_never_called() -> None:
    called = []

    def hostile() -> str:
        called.append(1)
        return "ran"

    data = {"f": hostile, "items": [hostile]}
    for template in ("{{.f}}", "{{range .items}}{{.}}{{end}}", "{{json .}}", "{{if .f}}{{end}}", "{{len .items}}"):
        try:
            assert "ran" not in render(template, data)
        except TemplateError:
            pass
    assert called == []


@pytest.mark.parametrize(
    "template",
    [
        "{{range 1000}}{{range 1000}}{{range 1000}}{{end}}{{end}}{{end}}",  # nothing written, yet a billion steps
        "{{range 100000000000}}{{end}}",
        '{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}',  # recursion
        "{{" + "(" * 300 + "1" + ")" * 300 + "}}",
        "{{if 1}}" * 300 + "{{end}}" * 300,
        '{{$x := "ab"}}' + '{{$x = printf "%s%s" $x $x}}' * 40,  # a value doubled past any memory
        '{{pad "x" 999999999999 0}}',
    ],
)
def test_a_hostile_template_is_bounded(template: str) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateError):
        render(template, DATA)
    assert time.monotonic() - start < 10


def test_output_is_bounded() -> None:
    big = {"s": "x" * 100_000, "n": list(range(1000))}
    with pytest.raises(TemplateError, match="output larger than"):
        render("{{range .n}}{{$.s}}{{end}}", big)  # 100 MB asked for
    assert len(render("{{range 10}}{{$.s}}{{end}}", big)) == 1_000_000 < MAX_OUTPUT
    assert render('{{printf "%99999999d" 1}}', big) == "%!(BADWIDTH)"  # Go refuses widths past 1e6 too


def test_go_number_and_string_printing() -> None:
    assert [go_float(x) for x in (1.0, 1.5, 1e6, 123456.0, 1e21, 0.0001, 0.00001, -2.5)] == [
        "1", "1.5", "1e+06", "123456", "1e+21", "0.0001", "1e-05", "-2.5",
    ]  # fmt: skip
    assert go_quote("sh -c 'a\tb'\x01é") == "\"sh -c 'a\\tb'\\x01é\""


# -- docker's formatter -----------------------------------------------------------


def _rows() -> list[Row]:
    label = Method(lambda k: "x", 1)
    return [
        Row("*formatter.ContainerContext", {"ID": "65659dc3f3ac", "Names": "web", "Label": label}),
        Row("*formatter.ContainerContext", {"ID": "8c0515582cb3", "Names": "dup-long-name", "Label": label}),
    ]


HEADER = {"ID": "CONTAINER ID", "Names": "NAMES"}


def test_a_table_has_dockers_headers_and_tabwriter_columns() -> None:
    out = format_rows("table {{.ID}}\t{{.Names}}\t{{.ID}}", _rows(), HEADER)
    assert out.splitlines() == [
        "CONTAINER ID   NAMES           CONTAINER ID",
        "65659dc3f3ac   web             65659dc3f3ac",
        "8c0515582cb3   dup-long-name   8c0515582cb3",
    ]
    # a narrow column is 10 wide (tabwriter's minwidth); functions leave the header as it is
    out = format_rows("table {{.Names | upper}}\t{{.ID}}", _rows()[:1], HEADER)
    assert out == "NAMES     CONTAINER ID\nWEB       65659dc3f3ac\n"
    # a label column is headed by the last part of its name, - and _ as spaces
    assert format_rows('table {{.Label "com.example.some-key"}}', _rows()[:1], HEADER).splitlines()[0] == "some key"
    # \t and \n written as two characters are a tab and a newline, as in docker
    assert format_rows("table {{.ID}}\\t{{.Names}}", _rows()[:1], HEADER).splitlines()[0] == "CONTAINER ID   NAMES"


def test_rows_without_a_table_are_one_line_each() -> None:
    assert format_rows("{{.Names}}", _rows(), HEADER) == "web\ndup-long-name\n"
    assert format_rows("{{.Names}}", [], HEADER) == ""
    assert format_rows("table {{.Names}}", [], HEADER) == "NAMES\n"  # a table's header even with no rows
    assert format_rows("json", _rows()[:1], HEADER) == '{"ID":"65659dc3f3ac","Names":"web"}\n'
    with pytest.raises(TemplateError, match=r"^template parsing error: template: :1:2: executing .*can't evaluate"):
        format_rows("{{.Nope}}", _rows(), HEADER)
    with pytest.raises(TemplateError, match=r"^template parsing error: template: :1: unclosed action"):
        format_rows("{{.Nope", [], HEADER)


def test_ps_checks_its_format_on_an_empty_context_first() -> None:
    empty = Row("*formatter.ContainerContext", {"ID": ""})
    probe("{{.ID}}", empty)
    with pytest.raises(TemplateError, match="^failed to parse template: template: :1: unclosed action"):
        probe("{{.ID", empty)
    with pytest.raises(TemplateError, match="^failed to execute template: template: :1:2: "):
        probe("{{.Nope}}", empty)


def test_tabwriter_blocks_as_go_cuts_them() -> None:
    # a line with fewer cells ends the column block above it, as in Go's text/tabwriter
    assert tabwrite("a\tb\nlonger-cell\tc\nno tabs here\nx\ty") == (
        "a             b\nlonger-cell   c\nno tabs here\nx         y"
    )
    with pytest.raises(TemplateError, match="columns"):
        tabwrite("\t" * 1000)


def test_random_templates_fail_only_as_template_errors() -> None:
    """Any text a user passes is rendered or refused with Go's one-line
    error: never another exception (a traceback)."""
    import random

    words = [
        ".", ".ID", ".Names", ".Config.Env", "$", "$x", "$x :=", "$x =", "$i, $e :=", "|", "(", ")", '"s"', "1",
        "-2", "3.5", "if", "else", "end", "range", "with", "break", "len", "index", "slice", "printf", "println",
        "json", "join", "split", "title", "pad", "truncate", "eq", "lt", "and", "or", "not", "nil", '"%d %q %5.2f"',
        "$.ID", ".Label", '"k"', 'template "a"', 'define "a"', "/*", "*/", "{{", "-",
    ]  # fmt: skip
    row = Row("*x", {"ID": "a", "Names": "n", "Label": Method(lambda k: k, 1)})
    rng = random.Random(12)
    for i in range(3000):
        actions = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 5))]
        template = "".join("{{" + a + "}}" + rng.choice(["", "x", "\n"]) for a in actions)
        for data in (DATA, row):
            try:
                render(template, data, missing_error=bool(i % 2))
            except TemplateError:
                pass
