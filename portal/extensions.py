"""The extension objects, created unbound; create_app binds them (no circular imports)."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations agree on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
babel = Babel()


# SQLite's page cache per connection (KiB): its default of 2 MiB sends most reads of a large book
# back through the kernel. 16 MiB holds a search's pages at 100,000 contacts (bench/search.py) and
# keeps the runner within its memory bound.
SQLITE_CACHE_KIB = 16 * 1024


@event.listens_for(Engine, "connect")
def _sqlite_settings(dbapi_connection, _record):
    """Each new SQLite connection: foreign keys enforced (SQLite ignores them unless each connection
    asks: without them a deleted row's dependants stay behind and point at whatever row gets the
    freed id next, another customer's), and a page cache of SQLITE_CACHE_KIB."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()
