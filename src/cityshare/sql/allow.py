"""What a read-only SQL statement may contain: an allow-list of node types and functions.

Every node of the parsed statement must be of a type listed here, and may set only the
listed arguments (clauses, options). Anything else — an unknown function, a window, a
lock, ``SELECT … INTO``, a parameter, a type cast to anything but a plain scalar type —
is refused with :class:`~cityshare.errors.BadRequest` naming what was refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from cityshare.errors import BadRequest

# None: any argument may be set (functions and operators, whose arguments are values or
# harmless parse flags; their child nodes are checked in turn).
ANY: frozenset[str] | None = None

_QUERY = frozenset({"with_", "order", "limit", "offset"})
_SET_OPERATION = _QUERY | {"this", "expression", "distinct"}

STRUCTURE: Mapping[type[exp.Expr], frozenset[str] | None] = {
    exp.Select: _QUERY | {"expressions", "distinct", "from_", "joins", "where", "group", "having"},
    exp.Union: _SET_OPERATION,
    exp.Intersect: _SET_OPERATION,
    exp.Except: _SET_OPERATION,
    exp.Subquery: frozenset({"this", "alias", "order", "limit", "offset"}),
    exp.With: frozenset({"expressions", "recursive"}),
    exp.CTE: frozenset({"this", "alias"}),
    exp.From: frozenset({"this"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog"}),  # db/catalog: see parse.py
    exp.TableAlias: frozenset({"this", "columns"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Where: frozenset({"this"}),
    exp.Group: frozenset({"expressions"}),
    exp.Having: frozenset({"this"}),
    exp.Order: frozenset({"expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),
    exp.Limit: frozenset({"this", "expression"}),
    exp.Offset: frozenset({"this", "expression"}),
    exp.Distinct: frozenset({"expressions"}),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Column: frozenset({"this", "table"}),
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Star: frozenset(),
    exp.Literal: ANY,
    exp.Null: ANY,
    exp.Boolean: ANY,
    exp.Paren: frozenset({"this"}),
    exp.Tuple: frozenset({"expressions"}),
    exp.Cast: frozenset({"this", "to", "_type"}),
    exp.DataType: frozenset({"this", "expressions", "nested"}),
}

OPERATORS: tuple[type[exp.Expr], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.DPipe,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Escape,
    exp.Exists,
    exp.Case,
    exp.If,
    exp.Filter,
)

# Functions, by the node sqlglot parses them into (an unknown name is exp.Anonymous,
# which is never allowed). Each exists, with the same meaning, on SQLite and PostgreSQL.
FUNCTIONS: tuple[type[exp.Expr], ...] = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.Coalesce,
    exp.Nullif,
    exp.Abs,
    exp.Round,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Substring,
    exp.Trim,
    exp.Replace,
    exp.StrPosition,
)

ALLOWED: Mapping[type[exp.Expr], frozenset[str] | None] = {
    **STRUCTURE,
    **dict.fromkeys(OPERATORS, ANY),
    **dict.fromkeys(FUNCTIONS, ANY),
}

_T = exp.DataType.Type
CAST_TYPES = frozenset(
    {
        _T.TEXT,
        _T.VARCHAR,
        _T.INT,
        _T.BIGINT,
        _T.SMALLINT,
        _T.DOUBLE,
        _T.FLOAT,
        _T.DECIMAL,
        _T.BOOLEAN,
        _T.DATE,
    }
)
JOIN_KINDS = frozenset({"", "INNER", "OUTER", "CROSS"})
JOIN_METHODS = frozenset({"", "NATURAL"})

# Names people know refused things by, where sqlglot's node name would not tell them.
_NAMES: Mapping[type[exp.Expr], str] = {
    exp.Into: "SELECT … INTO",
    exp.Lock: "FOR UPDATE / FOR SHARE",
    exp.Window: "window functions (OVER)",
    exp.Lateral: "LATERAL",
    exp.Placeholder: "parameters",
    exp.Parameter: "parameters",
    exp.Values: "VALUES",
    exp.Collate: "COLLATE",
    exp.Fetch: "FETCH (use LIMIT)",
}


def check_node(node: exp.Expr) -> None:
    """Refuse ``node`` unless its type, its arguments and (for some) its values are allowed."""
    allowed = ALLOWED.get(type(node), frozenset())
    if type(node) not in ALLOWED:
        raise refusal(describe(node))
    if allowed is not None:
        for key, value in node.args.items():
            if key not in allowed and value not in (None, False, [], ""):
                raise refusal(_clause(node, key, value))
    if isinstance(node, exp.DataType):
        _check_type(node)
    if isinstance(node, exp.Join):
        _check_join(node)
    if isinstance(node, exp.Limit | exp.Offset):
        whole_number(node)


def _check_type(node: exp.DataType) -> None:
    # Lengths and precisions (VARCHAR(3), NUMERIC(10, 2)) mean nothing to SQLite; casts to
    # TIMESTAMP would give SQLite's text form, unlike every datetime of a dataset.
    if node.this not in CAST_TYPES:
        raise refusal(f"the type {node.sql(dialect='postgres')[:40]}")
    if node.expressions:
        raise refusal("type parameters (such as VARCHAR(10))")


def _check_join(node: exp.Join) -> None:
    kind = str(node.args.get("kind") or "").upper()
    method = str(node.args.get("method") or "").upper()
    if kind not in JOIN_KINDS or method not in JOIN_METHODS:
        raise refusal(f"{method or kind} JOIN")


def whole_number(node: exp.Limit | exp.Offset) -> int:
    """The whole number of a LIMIT or OFFSET (BadRequest for anything else)."""
    value = node.args.get("expression")
    if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
        raise BadRequest(
            f"{node.key.upper()} must be a whole number such as 100.", refused=node.key.upper()
        )
    return int(value.this)


def _clause(node: exp.Expr, key: str, value: object) -> str:
    first = value[0] if isinstance(value, list) and value else value
    if isinstance(first, exp.Expr) and type(first) in _NAMES:
        return describe(first)
    return f"{key.rstrip('_').upper()} in {node.key.upper()}"


def describe(node: exp.Expr) -> str:
    """How to name a refused node to the person who wrote it."""
    for kind, name in _NAMES.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Anonymous):
        return f"the function {str(node.name)[:60]}"
    if isinstance(node, exp.Func):
        return f"the function {node.sql_name()}"
    if isinstance(node, exp.Command):
        return str(node.this).upper()[:40]
    return node.key.upper()


def refusal(what: str) -> BadRequest:
    """The error for a refused construct."""
    return BadRequest(
        f"The statement uses {what}, which is not allowed here. See the SQL section of "
        "docs/query.md for what a statement may use.",
        refused=what,
    )
