"""String functions whose cost is bounded, for statements of the SQL endpoint.

Neither engine can stop a C function while it runs: a time limit (SQLite's progress
handler and interrupt, PostgreSQL's ``statement_timeout``) is noticed only after it
returns. The built-in ``instr``/``strpos``, ``replace``, ``trim`` with a set of
characters and (on PostgreSQL) ``LIKE`` take time proportional to the *product* of
their arguments' lengths in the worst case (``instr`` of a 1 MiB text and a crafted
needle of half that ran 7 s on SQLite; ``strpos`` of 10^7 and 10^5 characters more
than 6 minutes on PostgreSQL). A user's statement therefore calls bounded versions:

- SQLite: ``cityshare_instr``, ``cityshare_replace`` and ``cityshare_trim``, defined in
  Python on the connection (:func:`install_sqlite`): Python's string search is linear,
  ``replace`` refuses a result longer than the value limit before building it, and
  ``trim`` tests each character against a set. SQLite's own ``LIKE`` stays, with its
  pattern length capped (:data:`MAX_LIKE_PATTERN_CHARS`) and values capped by the guard.
- PostgreSQL: ``pg_temp.cityshare_*`` PL/pgSQL functions, created once per database
  session (:func:`install_postgresql`), which refuse arguments whose lengths multiply
  past :data:`POSTGRESQL_WORK` (under a second of work) and a ``replace`` result longer
  than the value limit, then call the built-in. ``LIKE`` and ``ILIKE`` go through them
  too, and concatenation (``||``, whose operands are cast to text as ``||`` would), which
  refuses a result longer than the value limit (SQLite's length limit does that there).

:func:`bound_functions` rewrites a parsed statement to call them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlglot import exp

from cityshare.errors import BadRequest

MAX_LIKE_PATTERN_CHARS = 100  # SQLite: the longest LIKE pattern (its default is 50,000)
POSTGRESQL_WORK = 300_000_000  # PostgreSQL: the largest length product of one call
_INSTALLED = "cityshare_bounded_functions"
_TOO_COSTLY = (
    "a string function over values this long could run past the time limit: "
    "use shorter values or patterns"
)


def bound_functions(tree: exp.Expr, dialect: str) -> None:
    """Replace, in place, the costly string functions of ``tree`` by bounded ones."""
    for node in list(tree.find_all(exp.StrPosition, exp.Replace, exp.Trim)):
        call = _bounded_call(node)
        if call is not None:
            node.replace(_qualified(call, dialect))
    if dialect != "postgresql":
        return  # SQLite's length limit caps concatenation
    for pipe in list(tree.find_all(exp.DPipe)):
        parts = [
            exp.cast(part, exp.DataType.Type.TEXT, copy=False)
            for part in pipe.args.values()
            if isinstance(part, exp.Expr)
        ]
        call = exp.Anonymous(this="cityshare_concat", expressions=parts)
        pipe.replace(_qualified(call, dialect))
    for escape in list(tree.find_all(exp.Escape)):
        if isinstance(escape.this, exp.Like | exp.ILike):
            escape.replace(_like_call(escape.this, escape.expression))
    for match in list(tree.find_all(exp.Like, exp.ILike)):
        assert isinstance(match, exp.Like | exp.ILike)
        match.replace(_like_call(match, None))


def _like_call(node: exp.Like | exp.ILike, escape: exp.Expr | None) -> exp.Expr:
    """``pg_temp.cityshare_[i]like(value, pattern[, escape])``, negated if it was."""
    if set(node.args) - {"this", "expression", "negate"}:
        raise BadRequest("LIKE takes a value and a pattern here (and an optional ESCAPE).")
    name = "cityshare_ilike" if isinstance(node, exp.ILike) else "cityshare_like"
    values = [node.this, node.expression, *([escape] if escape is not None else [])]
    call = _qualified(exp.Anonymous(this=name, expressions=values), "postgresql")
    return exp.Not(this=call) if node.args.get("negate") else call


def _bounded_call(node: exp.Expr) -> exp.Anonymous | None:
    if isinstance(node, exp.StrPosition):
        if node.args.get("position") is not None or node.args.get("occurrence") is not None:
            raise BadRequest("instr/strpos/position take two arguments here.")
        return exp.Anonymous(this="cityshare_instr", expressions=[node.this, node.args["substr"]])
    if isinstance(node, exp.Replace):
        values = [node.this, node.expression, node.args["replacement"]]
        return exp.Anonymous(this="cityshare_replace", expressions=values)
    characters = node.expression
    if not isinstance(node, exp.Trim) or characters is None:
        return None  # trim of spaces is linear
    position = str(node.args.get("position") or "BOTH").lower()
    return exp.Anonymous(
        this="cityshare_trim",
        expressions=[node.this, characters, exp.Literal.string(position)],
    )


def _qualified(call: exp.Anonymous, dialect: str) -> exp.Expr:
    if dialect == "postgresql":  # functions of pg_temp are found only when named so
        return exp.Dot(this=exp.to_identifier("pg_temp"), expression=call)
    return call


# --- SQLite ----------------------------------------------------------------------------


def install_sqlite(raw: Any, max_value_chars: int) -> None:
    """Define the bounded functions on a sqlite3 connection (again: it is cheap)."""
    raw.create_function("cityshare_instr", 2, _instr, deterministic=True)
    raw.create_function("cityshare_replace", 3, _replacer(max_value_chars), deterministic=True)
    raw.create_function("cityshare_trim", 3, _trim, deterministic=True)


def _instr(haystack: Any, needle: Any) -> int | None:
    if haystack is None or needle is None:
        return None
    if isinstance(haystack, bytes) and isinstance(needle, bytes):
        return haystack.find(needle) + 1
    return _text(haystack).find(_text(needle)) + 1


def _replacer(max_chars: int) -> Callable[[Any, Any, Any], Any]:
    def replace(value: Any, old: Any, new: Any) -> Any:
        if value is None or old is None or new is None:
            return None
        text, old_text, new_text = _text(value), _text(old), _text(new)
        if not old_text:
            return value
        growth = len(new_text) - len(old_text)
        if growth > 0 and len(text) + text.count(old_text) * growth > max_chars:
            raise OverflowError  # sqlite3 answers SQLITE_TOOBIG, as the built-in would
        return text.replace(old_text, new_text)

    return replace


def _trim(value: Any, characters: Any, position: str) -> str | None:
    if value is None or characters is None:
        return None
    text, allowed = _text(value), frozenset(_text(characters))
    start, end = 0, len(text)
    if position in ("both", "leading"):
        while start < end and text[start] in allowed:
            start += 1
    if position in ("both", "trailing"):
        while end > start and text[end - 1] in allowed:
            end -= 1
    return text[start:end]


def _text(value: Any) -> str:
    """A value as SQLite would read it as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return _real_text(value)
    return str(value)


def _real_text(value: float) -> str:
    # SQLite writes a REAL with "%!.15g": a decimal point is always shown.
    text = format(value, ".15g")
    if text in ("inf", "-inf", "nan"):
        return {"inf": "Inf", "-inf": "-Inf", "nan": ""}[text]
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


# --- PostgreSQL ------------------------------------------------------------------------


def _postgresql_functions(max_value_chars: int) -> list[str]:
    def body(a: str, b: str, result: str, also: str = "") -> str:
        guard = (
            f"IF length({a})::bigint * greatest(length({b}), 1) > {POSTGRESQL_WORK} THEN "
            f"RAISE EXCEPTION '{_TOO_COSTLY}' USING ERRCODE = '54000'; END IF;"
        )
        return f"$$ BEGIN {guard} {also} RETURN {result}; END $$"

    # The length of replace(v, o, n), known before it is built.
    too_long = (
        "IF length(replace(v, o, '')) + (length(v) - length(replace(v, o, ''))) "
        f"/ greatest(length(o), 1) * length(n) > {max_value_chars} THEN RAISE EXCEPTION "
        "'string or blob too big' USING ERRCODE = '54000'; END IF;"
    )
    trim = (
        "CASE p WHEN 'leading' THEN ltrim(v, c) WHEN 'trailing' THEN rtrim(v, c) "
        "ELSE btrim(v, c) END"
    )
    concat = (
        f"$$ BEGIN IF octet_length(a)::bigint + octet_length(b) > {max_value_chars} THEN "
        "RAISE EXCEPTION 'string or blob too big' USING ERRCODE = '54000'; END IF; "
        "RETURN a || b; END $$"
    )
    functions = [
        ("cityshare_concat(a text, b text)", "text", concat),
        ("cityshare_instr(h text, n text)", "integer", body("h", "n", "strpos(h, n)")),
        (
            "cityshare_replace(v text, o text, n text)",
            "text",
            body("v", "o", "replace(v, o, n)", too_long),
        ),
        ("cityshare_trim(v text, c text, p text)", "text", body("v", "c", trim)),
        ("cityshare_like(v text, p text)", "boolean", body("v", "p", "v LIKE p")),
        ("cityshare_like(v text, p text, e text)", "boolean", body("v", "p", "v LIKE p ESCAPE e")),
        ("cityshare_ilike(v text, p text)", "boolean", body("v", "p", "v ILIKE p")),
        (
            "cityshare_ilike(v text, p text, e text)",
            "boolean",
            body("v", "p", "v ILIKE p ESCAPE e"),
        ),
    ]
    return [
        f"CREATE OR REPLACE FUNCTION pg_temp.{signature} RETURNS {returns} "
        f"LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS {text};"
        for signature, returns, text in functions
    ]


def install_postgresql(connection: Connection, max_value_chars: int) -> None:
    """Create the bounded functions in this database session, once per session.

    Run before the statement's read-only transaction begins: it commits.
    """
    info = connection.connection.info
    if info.get(_INSTALLED) == max_value_chars:
        return
    for statement in _postgresql_functions(max_value_chars):
        connection.exec_driver_sql(statement)
    connection.commit()
    info[_INSTALLED] = max_value_chars
