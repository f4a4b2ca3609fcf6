"""Search: the one folding rule, the indexed match condition, the ranking and the index DDL.

Every searchable table (SEARCHED) keeps a `search_text` column: its name and email fields joined
and folded by `document()`. A query is folded by the same `fold()`, so spellings meet both ways:
"mueller" and "müller" both fold to "mueller" and find Müller and Mueller; "gross" finds Groß,
"nunez" finds Núñez, "obrien" and "o'brien" find O'Brien.

A word of 3 or more characters matches anywhere ("chmid" finds Schmidt); a word of 1 or 2
characters matches the start of a word ("ko" finds Koch, not Mirko), except a number: "12" matches
anywhere, as "121" does. The document is stored with a space before every word, so a
start-of-word match is the substring " ko": 3 characters again.
Such needles are looked up in an index: on SQLite an FTS5 table with the trigram tokenizer
(`<table>_fts`, external content, kept in step by triggers), on PostgreSQL a pg_trgm GIN index
(`ix_<table>_search_trgm`) serving LIKE '%needle%' (pg_trgm also serves a single letter at a word
start). On SQLite a single letter (" k", 2 characters) cannot use the trigram index: it filters
the rows the other words found, or alone reads the customer's rows (a LIKE scan).

The SQLite triggers belong to their table: a later migration that rebuilds one of these tables
(batch mode's copy and rename) must call drop_index before and create_index after it.
"""

import re
import unicodedata

from sqlalchemy import bindparam, case, event, false, literal_column, table
from sqlalchemy import column as column_clause
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from portal.extensions import db

MAX_TERMS = 5
MIN_INDEXED = 3  # a trigram index serves words of at least 3 characters
SEARCHED = ("contact", "directory_user", "directory_group")

# Letters folded before the accents are stripped (NFKD does not take these apart). Each rule is a
# regular expression: str.translate with a dict looks up every character of a non-ASCII string.
_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
_LETTERS = {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_GERMAN_LETTER = re.compile("[{}]".format("".join(_GERMAN)))
_OTHER_LETTER = re.compile("[{}]".format("".join(_LETTERS)))
_APOSTROPHE = re.compile("['’‘ʼ`´]")
# Every character that is neither alphanumeric (str.isalnum, as \w less "_") nor email
# punctuation (@ . - _ +) separates words.
_SEPARATOR = re.compile(r"[^\w@.+-]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _without_marks(match):
    return "".join(c for c in match.group() if not unicodedata.combining(c))


def _strip_accents(value):
    """`value` without combining marks once taken apart (NFKD); only non-ASCII runs are looked at."""
    return _NON_ASCII.sub(_without_marks, unicodedata.normalize("NFKD", value))


def _clean(value):
    if not value.isascii():  # a directory is mostly ASCII: the fast path skips the letter rules
        value = _strip_accents(_OTHER_LETTER.sub(lambda m: _LETTERS[m.group()], value))
    value = _APOSTROPHE.sub("", value)
    return " ".join(_SEPARATOR.sub(" ", value).split())


def fold(value):
    """`value` as searched: lower case, ä ö ü ß as ae oe ue ss, other accents stripped,
    apostrophes dropped, punctuation other than @ . - _ + as spaces, spaces collapsed."""
    value = (value or "").lower()
    if not value.isascii():
        value = _GERMAN_LETTER.sub(lambda m: _GERMAN[m.group()], value)
    return _clean(value)


def document(*parts):
    """The `search_text` of a row with these fields: their folded words, each once (a display
    name repeats the first and last name, a UPN the email), then the words that differ when umlauts
    are plain vowels, so "muller" finds Müller as well as "mueller" does (ASCII has no umlauts: the
    folded words are all); with a space before and after every word (see the module's docstring)."""
    joined = " ".join(p for p in parts if p)
    words = fold(joined).split()
    if not joined.isascii():
        words += _clean(joined.lower().replace("ß", "ss")).split()
    return " {} ".format(" ".join(dict.fromkeys(words)))


def terms(query):
    """The folded words of a search query (at most MAX_TERMS)."""
    return fold(query).split()[:MAX_TERMS]


# --- querying --------------------------------------------------------------------------------------
def _needle(word):
    """What the document must contain for `word`: the word, or for a short one " word" (a start).
    Short numbers match anywhere, as longer words do: "12" finds p121@… and 0512 like "121" does
    (a number inside an email or a staff number has no word start to match)."""
    return word if len(word) >= MIN_INDEXED or word.isdigit() else f" {word}"


def narrowed(statement, model, query):
    """`statement` (a select of `model`) narrowed to the rows whose search_text has every word of
    `query`; unchanged for a blank query. A query of punctuation alone ("%", "'") folds to no
    words and matches nothing."""
    if not (query or "").strip():
        return statement
    needles = [_needle(w) for w in terms(query)]
    if not needles:
        return statement.where(false())
    column = model.__table__.c.search_text
    indexed = [n for n in needles if len(n) >= MIN_INDEXED]
    if indexed:
        statement = _indexed(statement, model, column, indexed)
    short = [column.contains(n, autoescape=True) for n in needles if len(n) < MIN_INDEXED]
    return statement.where(*short) if short else statement


class _DrivingJoin(Join):
    """`left JOIN right`, which SQLite must run with `left` as the outer loop: it renders as
    SQLite's CROSS JOIN, the one join whose order its planner never changes."""

    inherit_cache = True


@compiles(_DrivingJoin, "sqlite")
def _render_driving_join(join, compiler, **kw):
    kw["asfrom"] = True
    left, right = compiler.process(join.left, **kw), compiler.process(join.right, **kw)
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


def driving_join(left, right, onclause):
    """`left JOIN right ON onclause` with `left` as the outer loop on SQLite (CROSS JOIN), whatever
    its planner knows; an ordinary join elsewhere. portal.contacts.facets drives "team of" so."""
    return _DrivingJoin(left, right, onclause)


def _indexed(statement, model, column, needles):
    """On SQLite, the FTS table's matches drive the query, whatever the planner knows: a database
    that never ran ANALYZE (every user's) otherwise walks the customer's index and runs the match
    once per contact, seconds instead of milliseconds. On PostgreSQL, LIKE conditions that the
    pg_trgm index serves."""
    if db.session.get_bind().dialect.name == "sqlite":
        fts = table(f"{model.__tablename__}_fts", column_clause("rowid"))
        phrase = " AND ".join('"{}"'.format(n.replace('"', '""')) for n in needles)
        match = literal_column(fts.name).op("MATCH")(bindparam("fts_phrase", phrase))
        driving = _DrivingJoin(fts, model.__table__, fts.c.rowid == model.id)
        return statement.select_from(driving).where(match)
    return statement.where(*[column.contains(n, autoescape=True) for n in needles])


def rank(model, query):
    """0 when the query is a whole word run of the row (exact: "koch" for Anna Koch), 1 when it
    starts one (prefix: "koc", "anna.k"), 2 otherwise: order by it before the chosen sort."""
    phrase, column = " ".join(terms(query)), model.__table__.c.search_text
    return case(
        (column.contains(f" {phrase} ", autoescape=True), 0),
        (column.contains(f" {phrase}", autoescape=True), 1),
        else_=2,
    )


def ranked(statement, model, query, *order):
    """`statement` narrowed to the `model` rows matching `query`, exact and prefix matches first,
    then in `order`; for a blank query, only in `order`."""
    if (query or "").strip():
        statement = narrowed(statement, model, query)
        order = (rank(model, query), *order)
    return statement.order_by(*order)


# --- the indexes (the migration and create_all both call these) -------------------------------------
def create_index(connection, table):
    """Create `table`'s search index and fill it from the rows' search_text (idempotent)."""
    if connection.dialect.name == "sqlite":
        for statement in _sqlite_ddl(table):
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(f"INSERT INTO {table}_fts({table}_fts) VALUES ('rebuild')")
    elif connection.dialect.name == "postgresql":
        schema = _trigram_schema(connection)
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_search_trgm ON {table} "
            f"USING gin (search_text {schema}.gin_trgm_ops)"
        )


def drop_index(connection, table):
    """Drop `table`'s search index (and on SQLite its triggers)."""
    if connection.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}_fts")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS ix_{table}_search_trgm")


def _sqlite_ddl(table):
    fts = f"{table}_fts"
    insert = f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text);"
    delete = f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
        f"search_text, content='{table}', content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search_text ON {table} "
        f"BEGIN {delete} {insert} END",
    ]


def _trigram_schema(connection):
    """The schema of the pg_trgm extension, installing it (into public) when missing: one
    installation per database, never in a schema that may be dropped with its tables."""
    connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    return connection.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar_one()


# A write of this many contacts or more (an import, a sync) refreshes the planner's statistics.
STATISTICS_AFTER = 1000


def refresh_statistics_after(written, tables=SEARCHED):
    """refresh_statistics when a committed write touched STATISTICS_AFTER rows or more (True then):
    what autovacuum's ANALYZE does some time later on a server where it runs, done at once."""
    if written < STATISTICS_AFTER:
        return False
    refresh_statistics(list(tables))
    return True


def refresh_statistics(tables):
    """After a bulk write (an import): the planner learns the new sizes now, not some time later.

    PostgreSQL plans a search of a table it still believes tiny with a scan instead of the trigram
    index until autovacuum's ANALYZE comes round. SQLite gets the statistics no user's database
    ever gathers otherwise (its searches do not depend on them: the FTS table drives, see _indexed),
    from a bounded sample per index (analysis_limit), so a large book costs milliseconds.
    Also hourly (the runner's upkeep), and every scim.activity.STATISTICS_EVERY requests to /scim/v2
    (Entra writes a book one user at a time)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE " + ", ".join(tables))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        for table_name in tables:
            connection.exec_driver_sql(f"ANALYZE {table_name}")
    db.session.commit()


def is_search_index(name):
    """True for the objects above, which the models do not declare (for alembic's autogenerate)."""
    return any(name.startswith(f"{table}_fts") or name == f"ix_{table}_search_trgm" for table in SEARCHED)


def include_name(name, type_, parent_names):
    """Alembic's include_name: leave the search indexes out of the models-vs-database comparison."""
    return not (name and is_search_index(name))


def index_with_table(table):
    """Have create_all and drop_all create and drop `table`'s search index along with the table."""
    event.listen(table, "after_create", lambda target, conn, **kw: create_index(conn, target.name))
    event.listen(table, "before_drop", lambda target, conn, **kw: drop_index(conn, target.name))
