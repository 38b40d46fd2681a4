"""fastjson.loads: json.loads's result, and its error, for any document,
without importing the json package."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from ketch.fastjson import loads


def _outcome(f: object, doc: str | bytes) -> object:
    try:
        v = f(doc)  # type: ignore[operator]
    except json.JSONDecodeError as e:
        return ("JSONDecodeError", e.msg, e.pos)
    except (ValueError, TypeError, RecursionError) as e:
        return (type(e).__name__, str(e))
    return ("value", repr(v), [type(x) for x in (v if isinstance(v, list) else [v])])


DOCS = [
    '{"a": [1, 2.5, -0, 1e400, true, false, null, "x\\u00e9\\n"], "b": {"c": {}}}', " [1] \n", "\t\r\n{}\n",
    '{"a": 1, "a": 2}', "123456789012345678901234567890", "1.7976931348623157e308", "-1E-400",
    '"\\ud83d\\ude00"', '"\\ud83d"', "NaN", "[Infinity, -Infinity]",
    "", " ", "{", "[1,]", '{"a":1,}', "[1] x", "[1] [2]", "\ufeff[]", "nul", "tru", '"\\x"', '"a\nb"', "01",
    "[" * 50 + "]" * 50, '{"k": "' + "v" * 10000 + '"}', "1 ", " 1", "-", "[-]", "1.", ".5", "1e", '"\x00"',
]  # fmt: skip


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_the_same_as_json_loads(doc: str) -> None:
    assert _outcome(loads, doc) == _outcome(json.loads, doc)
    assert _outcome(loads, doc.encode("utf-8", "surrogatepass")) == _outcome(
        json.loads, doc.encode("utf-8", "surrogatepass")
    )


def test_bytes_in_other_encodings_and_a_bom_as_json_loads() -> None:
    for doc in ['{"a": "é"}'.encode(e) for e in ("utf-16", "utf-16-le", "utf-32", "utf-8-sig")] + [b"\xff\xfe\xfd"]:
        assert _outcome(loads, doc) == _outcome(json.loads, doc)
    assert loads(bytearray(b'[1, "x"]')) == [1, "x"]


def test_nan_is_nan_and_deep_nesting_fails_as_json_loads_does() -> None:
    assert math.isnan(loads("NaN"))
    deep = "[" * 100000 + "]" * 100000
    assert _outcome(loads, deep)[0] == _outcome(json.loads, deep)[0] == "RecursionError"


def test_random_documents() -> None:
    """Random values written by json.dumps (with random spacing), and random
    mutations of them: the same value or the same error as json.loads."""
    rnd = random.Random(14)

    def value(depth: int = 0) -> object:
        kind = rnd.randrange(8 if depth < 4 else 5)
        if kind == 0:
            return rnd.choice([None, True, False])
        if kind == 1:
            return rnd.randint(-(10**20), 10**20)
        if kind == 2:
            return rnd.uniform(-1e6, 1e6)
        if kind in (3, 4):
            return "".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0x80, 0x3000), 0x1F600]))
                           for _ in range(rnd.randrange(6)))  # fmt: skip
        if kind in (5, 6):
            return {str(value(depth + 1)): value(depth + 1) for _ in range(rnd.randrange(4))}
        return [value(depth + 1) for _ in range(rnd.randrange(4))]

    for _ in range(3000):
        doc = json.dumps(value(), indent=rnd.choice([None, 1]), ensure_ascii=rnd.random() < 0.5)
        assert _outcome(loads, doc) == _outcome(json.loads, doc), doc
        if doc:
            i = rnd.randrange(len(doc))
            bad = doc[:i] + rnd.choice([",", "]", "}", '"', "\\", "x", ""]) + doc[i + 1 :]
            assert _outcome(loads, bad) == _outcome(json.loads, bad), bad


def test_it_imports_no_json_package() -> None:
    code = (
        "import sys; from ketch.fastjson import loads; assert loads('{\"a\": [1]}') == {'a': [1]}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('json', 're', 'enum')))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
