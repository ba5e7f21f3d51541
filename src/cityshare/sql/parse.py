"""Parsing a read-only SQL statement and checking it against the allow-list.

The statement is read as PostgreSQL's dialect of SQL, must be exactly one SELECT (or a
UNION/INTERSECT/EXCEPT of SELECTs), and every node of it must be allowed (see
:mod:`.allow`). Table references name datasets, never tables; the names a statement
gives its own CTEs are kept apart from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cityshare.errors import BadRequest, NotFound
from cityshare.sql.allow import check_node, describe

READ_DIALECT = "postgres"
MAX_DEPTH = 200
_SHOWN = 80


@dataclass(frozen=True)
class Statement:
    """A checked statement: its tree, the datasets it reads and the CTEs it defines."""

    tree: exp.Query
    datasets: tuple[str, ...]  # dataset names, as resolved from the references
    written: dict[str, str]  # dataset name -> the reference as written (for messages)
    ctes: frozenset[str]  # names of the statement's own CTEs (see :func:`name_key`)


def parse_statement(text: str) -> Statement:
    """Parse and check ``text`` (BadRequest, or NotFound for a reference to a non-dataset)."""
    tree = _single_statement(text)
    _check_depth(tree)
    for node in tree.walk():
        check_node(node)
    ctes = frozenset(name_key(cte.args["alias"].this) for cte in tree.find_all(exp.CTE))
    written: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        name = table_reference(table)
        if name_key(table.this) not in ctes:
            written.setdefault(dataset_name(table), name)
    return Statement(tree=tree, datasets=tuple(written), written=written, ctes=ctes)


def table_reference(table: exp.Table) -> str:
    """The name a table reference is written with (NotFound for a schema-qualified one)."""
    if not isinstance(table.this, exp.Identifier):
        raise BadRequest(
            f"The statement uses {describe(table.this)} as a table, which is not "
            "allowed here: name datasets only.",
            refused=describe(table.this),
        )
    if table.args.get("db") or table.args.get("catalog"):
        raise NotFound(
            f"No dataset named {table.sql(dialect=READ_DIALECT)[:_SHOWN]!r}, or you "
            "may not see it. Name datasets without a schema."
        )
    return str(table.name)


def name_key(identifier: exp.Identifier) -> str:
    """How PostgreSQL compares a name: quoted as written, unquoted in lower case."""
    name = str(identifier.this)
    return name if identifier.args.get("quoted") else name.lower()


def dataset_name(table: exp.Table) -> str:
    """The dataset a table reference means: unquoted names in lower case, and ``_`` for
    ``-`` (dataset names never contain ``_``), so ``traffic_counts`` is ``traffic-counts``."""
    table_reference(table)
    return name_key(table.this).replace("_", "-")


def _single_statement(text: str) -> exp.Query:
    if not text.strip():
        raise BadRequest("Parameter 'q' is empty: give one SELECT statement.", parameter="q")
    if "\x00" in text:
        raise BadRequest("Parameter 'q' contains a NUL character.", parameter="q")
    try:
        parsed = sqlglot.parse(text, read=READ_DIALECT)
    except TokenError:
        raise BadRequest(
            "Could not read the statement: a string, quoted name or comment is not closed.",
            parameter="q",
        ) from None
    except ParseError as error:
        raise BadRequest(_parse_problem(error), parameter="q") from None
    except RecursionError:
        raise _too_deep() from None
    statements = [statement for statement in parsed if statement is not None]
    if len(statements) != 1:
        raise BadRequest(
            f"Give exactly one statement, not {len(statements)}.",
            parameter="q",
            statements=len(statements),
        )
    statement = statements[0]
    if not isinstance(statement, exp.Select | exp.SetOperation):
        what = describe(statement)
        raise BadRequest(
            f"Only a SELECT statement may run here, not {what}.", parameter="q", refused=what
        )
    return statement


def _parse_problem(error: ParseError) -> str:
    first = error.errors[0] if error.errors else {}
    description = str(first.get("description") or "unexpected text")
    if "<Token" in description:
        description = description.split(" but got", 1)[0]
    where = f"line {first.get('line', '?')}, column {first.get('col', '?')}"
    near = str(first.get("highlight") or "")[:_SHOWN]
    return f"Could not parse the statement at {where} (near {near!r}): {description}."


def _check_depth(tree: exp.Expr) -> None:
    depths = {id(tree): 0}
    for node in tree.walk(bfs=True):
        depth = depths.get(id(node.parent), -1) + 1 if node.parent is not None else 0
        depths[id(node)] = depth
        if depth > MAX_DEPTH:
            raise _too_deep()


def _too_deep() -> BadRequest:
    return BadRequest(
        "The statement is nested too deeply (parentheses, subqueries or long chains of "
        "AND/OR): simplify it.",
        parameter="q",
    )
