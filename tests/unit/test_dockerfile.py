"""The Dockerfile parser on the cases docker's reference documents."""

from __future__ import annotations

import pytest

from ketch.builder.parser import DockerfileError, healthcheck, parse, substitute
from ketch.models.instructions import apply


def test_escape_directive_and_continuations() -> None:
    ins = parse("# escape=`\nFROM busybox\nRUN echo one `\n  two\nCOPY a b\\c /d/\n")
    assert [i.cmd for i in ins] == ["FROM", "RUN", "COPY"]
    assert ins[1].rest == "echo one   two"
    assert ins[2].rest == "a b\\c /d/"  # a backslash is an ordinary character then


def test_comments_and_blank_lines_inside_a_continuation() -> None:
    ins = parse("FROM x\nRUN a \\\n# a comment\n\n  && b\n")
    assert ins[1].rest == "a   && b"


def test_directives_only_at_the_top() -> None:
    ins = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert ins[1].rest == "a  b"  # the late directive is a comment
    with pytest.raises(DockerfileError):
        parse("# escape=`\n# escape=\\\nFROM x\n")


def test_json_and_shell_forms() -> None:
    ins = parse('FROM x\nCMD ["echo", "a \\"quoted\\" word"]\nCMD ["not" \'json\']\n')
    assert ins[1].json_form() == ["echo", 'a "quoted" word']
    assert ins[2].json_form() is None  # not valid JSON: the shell form, as docker reads it


def test_heredocs_with_tab_stripping() -> None:
    ins = parse("FROM x\nRUN <<-EOT\n\techo a\n\techo b\n\tEOT\nRUN true\n")
    assert ins[1].heredocs == [("EOT", "echo a\necho b\n")]
    assert [i.cmd for i in ins] == ["FROM", "RUN", "RUN"]
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM x\nRUN <<EOF\necho\n")


def test_flags_case_and_errors() -> None:
    ins = parse("from x as build\ncopy --from=build --chown=1:2 a /b\n")
    assert ins[1].cmd == "COPY" and ins[1].flags == {"from": "build", "chown": "1:2"}
    with pytest.raises(DockerfileError, match="line 2: unknown instruction: RUNN"):
        parse("FROM x\nRUNN echo\n")
    with pytest.raises(DockerfileError, match="cannot be empty"):
        parse("# only a comment\n")


def test_substitution() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("$A ${A} ${A:-d} ${UNSET:-d} ${EMPTY:-d} ${A:+x} ${UNSET:+x} \\$A", env) == "1 1 1 d d x  $A"


def test_env_and_label_forms() -> None:
    cfg = apply({}, 'ENV A=1 B="two words" C=3')
    assert cfg["Env"] == ["A=1", "B=two words", "C=3"]
    cfg = apply(cfg, "ENV LEGACY value with spaces")
    assert cfg["Env"][-1] == "LEGACY=value with spaces"
    cfg = apply(cfg, "ENV A=changed")
    assert cfg["Env"].count("A=changed") == 1 and "A=1" not in cfg["Env"]
    assert apply({}, 'LABEL "com.example.vendor"="ACME Inc" version=1.0')["Labels"] == {
        "com.example.vendor": "ACME Inc",
        "version": "1.0",
    }


# Found by benches/fuzz.sh (atheris, 2026-12-02): HEALTHCHECK's flags raised
# ValueError/OverflowError and a deeply nested JSON form RecursionError, where a
# bad Dockerfile must give a one-line DockerfileError.


def test_healthcheck_retries_must_be_a_count() -> None:
    with pytest.raises(DockerfileError, match=r'line 1: HEALTHCHECK --retries="<<3": not a number of retries'):
        parse("HEALTHCHECK --retries=<<3 CMD true\n")  # the fuzzer's input, minimized
    for bad in ("x", "", "3.0", "1" * 40, "\u0663"):  # \u0663: an Arabic-Indic 3, which int() takes
        with pytest.raises(DockerfileError):
            healthcheck(parse(f"HEALTHCHECK --retries={bad} CMD true")[0])
    with pytest.raises(DockerfileError, match=r"--retries cannot be negative \(-1\)"):
        healthcheck(parse("HEALTHCHECK --retries=-1 CMD true")[0])
    assert healthcheck(parse("HEALTHCHECK --retries=3 --interval=1m30s CMD true")[0]) == {
        "Test": ["CMD-SHELL", "true"],
        "Retries": 3,
        "Interval": 90_000_000_000,
    }


def test_healthcheck_duration_out_of_range() -> None:
    (ins,) = parse("HEALTHCHECK --interval=1" + "0" * 400 + "s CMD true")
    with pytest.raises(DockerfileError, match="invalid duration .*out of range"):
        healthcheck(ins)
    with pytest.raises(DockerfileError, match="out of range"):
        healthcheck(parse("HEALTHCHECK --timeout=9223372037s CMD true")[0])  # just past int64 nanoseconds


def test_deeply_nested_json_form_is_the_shell_form() -> None:
    rest = "[" * 3000
    (ins,) = parse(f"CMD {rest}\n")
    assert ins.json_form() is None  # not an exec form: docker runs it through the shell
