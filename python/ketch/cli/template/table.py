"""docker's formatter (`table ...` with its header, or one line per row),
docker ps's probe of a --format, and Go's text/tabwriter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .execute import execute
from .parse import parse
from .values import MAX_COLUMNS, Method, Row, TemplateError

TYPE_CHECKING = False  # typing is ~3 ms of `ps --format`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

# -- docker's formatter: `table ...`, or one line per row ---------------------------------


def template_string(fmt: str) -> str:
    """docker's Format.templateString: `json` is `{{json .}}`, a `table` prefix
    dropped, spaces trimmed, `\\t` and `\\n` as written become tab and newline."""
    if fmt == "table":
        return ""
    if fmt == "json":
        return "{{json .}}"
    if fmt.startswith("table"):
        fmt = fmt[5:]
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def header_label(name: Any) -> str:
    """docker's header for `{{.Label "com.example.some-key"}}`: `some key`."""
    return str(name).split(".")[-1].replace("-", " ").replace("_", " ")


def format_rows(fmt: str, rows: Sequence[Mapping[str, Any]], header: Mapping[str, str]) -> str:
    """docker's formatter.Context.Write: each row rendered and ended by a
    newline; for `table ...` the header first (the template run on the
    column names) and the whole aligned as text/tabwriter does it (minimum
    width 10, padding 3). A row is a `Row` (docker's context: a missing field
    is an error) or a plain dict. The text to print (each line ended by a
    newline; "" for no rows without a table). TemplateError as docker words
    it: `template parsing error: ...`."""
    try:
        t = parse(template_string(fmt))
        body = "".join(execute(t, r) + "\n" for r in rows)
    except TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None
    if not fmt.startswith("table"):
        return body
    head = Row("header", {**header, "Label": Method(header_label, 1)}, strict=False)
    try:
        top = execute(t, head, header=True)
    except TemplateError:
        top = ""  # docker ignores a header the template fails on
    return tabwrite(top + "\n" + body)


def probe(fmt: str, empty: Row) -> None:
    """docker ps's check of a --format before it lists: the template parsed
    and run on an empty context (`failed to parse/execute template: ...`)."""
    try:
        t = parse(fmt)
    except TemplateError as e:
        raise TemplateError(f"failed to parse template: {e}") from None
    try:
        execute(t, empty)
    except TemplateError as e:
        raise TemplateError(f"failed to execute template: {e}") from None


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (padchar ' ', no flags): a cell is text ended by a
    tab; a column block (consecutive lines with a cell in that column) is as
    wide as its widest cell plus padding, at least minwidth."""
    lines = [line.split("\t") for line in text.split("\n")]
    if max(len(cells) for cells in lines) > MAX_COLUMNS:
        raise TemplateError(f"template parsing error: more than {MAX_COLUMNS} columns")
    widths: list[int] = []
    out: list[str] = []

    def emit(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, c in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(c + " " * (widths[j] - len(c)))
                else:
                    parts.append(c)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            emit(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        emit(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)
