"""Go's text/template as docker's `--format` uses it: a small, safe engine.

`render(template, data)` runs a template on plain data (dicts, lists,
strings, numbers, bools, None) and `Row`s (docker's per-row contexts);
`table(fmt, rows, header)` is docker's formatter (`table ...` with its
headers, tabwriter-aligned, or one rendered line per row).

Safe by construction: a field is a key of a dict (never a Python
attribute), the only callables are this module's functions and the
`Method`s a face puts in a `Row`; recursion, evaluation steps and output are
bounded (TemplateError past them).

Supported: text and `{{ }}` actions with `{{-`/`-}}` trim markers and
`{{/* comments */}}`; `.`, `.A.B`, `$`, `$x`, `$x.A`, `(pipeline).A`; string
("..." and `...`), char, number, bool and nil constants; pipelines with `|`;
`$x := ...`, `$x = ...`; if/else if/else, range (lists, dicts by sorted key,
ints; `$i, $e :=`; else; break, continue), with/else with; define, template,
block; Go's functions and, or, not, len, index, slice, print, printf,
println, eq, ne, lt, le, gt, ge, html, js, urlquery; docker's json, split,
join, title, lower, upper, pad, truncate.

The package by role: values.py (`Row`, `Method`, `GoMap`, the bounds),
lex.py (the lexer), parse.py (the parse tree), funcs.py (Go's and docker's
functions, Go's printing), execute.py (evaluation), table.py (docker's
formatter and Go's tabwriter)."""

from .execute import execute, render
from .funcs import go_float, go_json, to_text
from .parse import Template, parse
from .table import format_rows, header_label, probe, tabwrite, template_string
from .values import (
    MAX_COLUMNS,
    MAX_DEPTH,
    MAX_OUTPUT,
    MAX_STEPS,
    MAX_VALUE,
    NO_VALUE,
    GoMap,
    Method,
    Row,
    TemplateError,
    go_maps,
)

__all__ = [
    "MAX_COLUMNS",
    "MAX_DEPTH",
    "MAX_OUTPUT",
    "MAX_STEPS",
    "MAX_VALUE",
    "NO_VALUE",
    "GoMap",
    "Method",
    "Row",
    "Template",
    "TemplateError",
    "execute",
    "format_rows",
    "go_float",
    "go_json",
    "go_maps",
    "header_label",
    "parse",
    "probe",
    "render",
    "tabwrite",
    "template_string",
    "to_text",
]
