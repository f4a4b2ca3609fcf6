"""A German visitor sees no English: every page (and its htmx fragment), rendered in German with
realistic data, shows only translated text.

The visible text of each answer (text nodes outside script, style and code, and the attributes a visitor
sees or hears: title, placeholder, aria-label, alt) is checked after the data the test stored
(names, emails, group names) is taken out. A text is English when

- it equals an English message of the catalogue whose German differs: a marked string shown
  without being translated (an `N_` text rendered raw, a `_()` forgotten in a template);
- it has a word of the catalogue's English that its German never uses ("history", "removed",
  "another"...), or a short English function word ("of", "to", "is"...): a string never marked
  for translation, so not in the catalogue at all.
"""

import io
import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from portal import book, create_app, smart_groups
from portal.extensions import db
from portal.models import Contact, ContactGroup, Job, OutboxMail, ScimActivity, SyncSettings, utcnow
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import SkipReason
from portal.scim import tokens as scim_tokens
from portal.sync import plan as sync_plan
from portal.sync.service import Preview
from portal.sync.tasks import preview_result
from tests.catalogue import PO_FILE, ensure_compiled
from tests.conftest import make_test_config
from tests.factories import hold_removal, manual_acme

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
HX = {"HX-Request": "true"}
# English function words shorter than the vocabulary's three letters (none of them German).
SHORT_ENGLISH_WORDS = re.compile(r"\b(of|to|is|or|no|by|be|it|at|on|my|we|if|as|do|up)\b", re.IGNORECASE)
# Names that stay as they are in German: the products, and the test's example domains.
NAMES = re.compile(r"Microsoft 365|Microsoft|M365|Entra ID|Graph|CSV|Awareness Portal|\S+@\S+|\S+\.example\b")
# The stored data of `stocked` below, taken out of a page before it is read.
DATA = (
    *("Acme GmbH", "Globex AG", "Initech", "Northwind IT", "Contoso Partners", "Vertrieb", "Bericht"),
    *("Vertrieb Nord", "Hamburg"),
    *("Anna", "Schmidt", "Schmid", "Ben", "Weber", "Lena", "Lang", "Carl", "Roth", "Held", "Person"),
    *("Alice", "Rita", "Olga", "Bob", "Charlie", "acme.onmicrosoft.com", "kontakte.csv"),
)
VISIBLE_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
# GET routes that answer no page: each with the reason (and where it is tested otherwise).
NOT_PAGES = {
    "static": "files",
    "contacts.export_csv": "a CSV file; its header row is the file format (tests/test_csv.py)",
    "probes.healthz": "a probe's answer for machines (tests/test_probes.py)",
    "probes.readyz": "a probe's answer for machines (tests/test_probes.py)",
    "m365.callback": "only redirects (tests/test_m365_connect.py)",
    "masterdata.resellers": "only redirects to one reseller",
}


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue():
    ensure_compiled()


def _catalogue_texts():
    """[(English, German)] of every message and plural form of the catalogue."""
    with open(PO_FILE, "rb") as po:
        catalogue = read_po(po, locale="de")
    pairs = []
    for message in catalogue:
        if message.id:
            ids = message.id if message.pluralizable else (message.id,)
            strings = message.string if message.pluralizable else (message.string,)
            pairs.extend(zip(ids, strings, strict=True))
    return pairs


def _words(texts):
    return {
        word.lower()
        for text in texts
        for word in re.findall(r"[^\W\d_]{3,}", re.sub(r"%\(\w+\)\w", " ", text))
    }


TEXTS = _catalogue_texts()
GERMAN_TEXTS = {german for _english, german in TEXTS if german}
ENGLISH_ONLY = {e for e, g in TEXTS if g and g != e and "%" not in e} - GERMAN_TEXTS
ENGLISH_VOCABULARY = _words(e for e, _g in TEXTS) - _words(GERMAN_TEXTS)


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self._hidden, self._english = [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._hidden += tag in ("script", "style", "code")  # code: commands and literals, never translated
        if (attrs.get("lang") or "").startswith("en"):  # marked English on purpose (the language switch)
            self._english.append(tag)
            self._hidden += 1
        self.texts.extend(attrs[name] for name in VISIBLE_ATTRIBUTES if attrs.get(name))
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style", "code")
        if self._english and self._english[-1] == tag:
            self._english.pop()
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.texts.append(data)


def english_in(html, data=DATA):
    """The English texts of a page (`data`, the test's own values, taken out)."""
    parser = _VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        for value in sorted(data, key=len, reverse=True):
            text = text.replace(value, " ")
        text = " ".join(text.split())
        words = NAMES.sub(" ", text)
        if (
            text in ENGLISH_ONLY
            or text.rstrip(":.…") in ENGLISH_ONLY
            or SHORT_ENGLISH_WORDS.search(words)
            or _words([words]) & ENGLISH_VOCABULARY
        ):
            found.append(text)
    return found


def test_the_detector_finds_english_and_lets_german_pass():
    assert len(ENGLISH_ONLY) > 300 and len(ENGLISH_VOCABULARY) > 300
    assert english_in("<h1>Sync history</h1>") == ["Sync history"]  # a message shown untranslated
    assert english_in('<p title="Remove this contact">x</p>') == ["Remove this contact"]
    assert english_in("<td>a removed contact has this email</td>")  # never marked
    assert english_in("<td>Kontakt von Anna Schmidt, anna@acme.example</td><script>var is = 1</script>") == []
    assert english_in("<p>Sync-Verlauf · Awareness Portal · Microsoft 365</p>") == []


# --- the data: a customer with everything a page can show ------------------------------------------


def _plan_with(world, reasons):
    """A plan with a create, an update, a group add and one skipped user per reason in `reasons`."""
    anna = sync_plan.ContactSnap(
        id=world.anna.id,
        first_name="Anna",
        last_name="Schmid",
        email="anna@acme.example",
        m365_user_id="user-anna",
        archived=False,
        group_ids=frozenset(),
    )
    users = {
        "user-anna": {
            "id": "user-anna",
            "givenName": "Anna",
            "surname": "Schmidt",
            "mail": "anna@acme.example",
        },
        "user-carl": {"id": "user-carl", "givenName": "Carl", "surname": "Roth", "mail": "carl@acme.example"},
    }
    wanted = [("user-anna", world.sales.id), ("user-carl", None)]
    plan = sync_plan.build([anna], sync_plan.M365Data(users=users, wanted=wanted))
    assert plan.creates and plan.updates and plan.group_adds
    plan.skipped.extend(
        sync_plan.Change("skip", f"user-{n}", "Roth, Carl", "carl@acme.example", reason=r)
        for n, r in enumerate(reasons)
    )
    return plan


def _smart_group(world):
    """world.smart: a smart group whose rule has a condition of each kind (a value, none, a manager);
    Anna (of Vertrieb, in Hamburg, reporting to Ben) meets it."""
    world.anna.department, world.anna.office, world.anna.manager_id = "Vertrieb", "Hamburg", world.ben.id
    conditions = [
        {"attribute": "department", "operator": "is", "value": "Vertrieb"},
        {"attribute": "language", "operator": "empty", "value": ""},
        {"attribute": "manager", "operator": "indirect", "value": "ben@acme.example"},
    ]
    world.smart = ContactGroup(
        customer_id=world.acme.id,
        name="Vertrieb Nord",
        rule=smart_groups.validate({"conditions": conditions}),
    )
    db.session.add(world.smart)
    db.session.flush()
    smart_groups.refresh(world.acme.id, record=False)


def stock(world, reasons):
    """Acme connected in Manual mode with contacts, a group and a smart group, a sync run with every kind
    of change, a held removal, a notification, a finished preview and import; skipped users give
    `reasons`."""
    manual_acme(world, group_name="Vertrieb")
    SyncSettings.for_customer(world.acme).sync_active = True
    world.ben = Contact(customer_id=world.acme.id, first_name="Ben", last_name="Weber", origin="m365")
    world.ben.set_email("ben@acme.example")
    world.ben.m365_user_id = "user-ben"
    world.run = SyncRun(customer_id=world.acme.id, status="succeeded", finished_at=utcnow())
    db.session.add_all([world.sales, world.anna, world.ben, world.run])
    db.session.flush()
    _smart_group(world)
    plan = _plan_with(world, reasons)
    world.run.counts = plan.counts()
    ben = {"contact_id": world.ben.id, "contact_name": "Weber, Ben", "contact_email": "ben@acme.example"}
    anna = {
        "contact_id": world.anna.id,
        "contact_name": "Schmidt, Anna",
        "contact_email": "anna@acme.example",
    }
    lena = {"contact_name": "Lang, Lena", "contact_email": "lena@acme.example"}
    changes = [
        ("create", ben, {}),
        ("update", anna, {"field": "last_name", "old_value": "Schmid", "new_value": "Schmidt"}),
        ("group_add", anna, {"detail": str(world.sales.id)}),
        ("remove", lena, {"detail": "deleted"}),
        ("hold", lena, {"detail": "deleted"}),
        *(
            ("skip", {"contact_name": "Roth, Carl", "contact_email": "carl@acme.example"}, {"detail": r})
            for r in reasons
        ),
    ]
    db.session.add_all(
        SyncChange(run_id=world.run.id, customer_id=world.acme.id, kind=kind, **who, **extra)
        for kind, who, extra in changes
    )
    db.session.add(
        OutboxMail(
            customer_id=world.acme.id,
            kind="removal_report",
            recipients=["it@acme.example"],
            subject="Bericht",
            body_text="Bericht",
        )
    )
    finished = {
        "customer_id": world.acme.id,
        "params": {},
        "error": "",
        "status": "succeeded",
        "finished_at": utcnow(),
    }
    world.preview = Job(
        kind="m365_preview", result=preview_result(Preview(plan=plan, graph_requests=3)), **finished
    )
    skipped = [{"name": "Roth, Carl", "email": "carl@acme.example", "reason": r} for r in reasons]
    world.import_job = Job(kind="m365_import", result={"created": 1, "skipped": skipped}, **finished)
    world.load_job = Job(kind="m365_directory_load", result={}, **finished)
    db.session.add_all([world.preview, world.import_job, world.load_job])
    db.session.commit()
    hold_removal(world.acme.id, "held@acme.example")
    world.scim_token, _secret = scim_tokens.create(world.acme, "Produktion", "alice@acme.example")
    world.scim_token.hint = "4711"  # the secret's last characters are random ("f-WE" read as English)
    world.ben.deactivated_at = utcnow()
    db.session.add(ScimActivity(customer_id=world.acme.id, method="PATCH", operation="disable", status=200))
    world.preview.result = {**world.preview.result, "book_state": book.state(world.acme)}  # made just now
    db.session.commit()
    return world


def _url(rule, world, client):
    ids = {
        "contact_id": world.anna.id,
        "group_id": world.smart.id if rule.endpoint == "contacts.smart_edit" else world.sales.id,
        "customer_id": world.acme.id,
        "reseller_id": world.northwind.id,
        "admin_id": world.alice.id,
        "run_id": world.run.id,
        "mail_id": db.session.scalar(db.select(OutboxMail.id)),
        "job_id": world.import_job.id if rule.endpoint == "manual.import_status" else world.load_job.id,
        "name": "sync_active",
        "token_id": world.scim_token.id,
    }
    if "token" in rule.arguments:  # a CSV upload to map
        csv = b"Vorname;Nachname;E-Mail\nLena;Lang;lena@acme.example\n"
        response = client.post("/contacts/import", data={"file": (io.BytesIO(csv), "kontakte.csv")})
        return response.headers["Location"]
    return rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]


def _answers(app, world, rule):
    """(who, url, html) of each persona's German page and htmx fragment that `rule` answers."""
    clients = {"anonymous": app.test_client()}
    for name in ("alice", "rita", "olga"):
        clients[name] = app.test_client().sign_in_as(getattr(world, name))
    url = _url(rule, world, clients["alice"])
    for who, client in clients.items():
        for headers in ({}, HX):
            response = client.get(url, headers={**GERMAN, **headers})
            if response.mimetype == "text/html" and response.status_code in (200, 286):
                yield who, url + (" (htmx)" if headers else ""), response.get_data(as_text=True)


GET_RULES = sorted(
    (r for r in create_app(make_test_config()).url_map.iter_rules() if "GET" in r.methods),
    key=lambda r: r.rule,
)
# /scim/v2 answers SCIM JSON to Microsoft Entra, never a page (tests/test_scim_*.py).
PAGE_RULES = [r for r in GET_RULES if r.endpoint not in NOT_PAGES and not r.endpoint.startswith("scim.")]


@pytest.mark.parametrize("rule", PAGE_RULES, ids=[r.rule for r in PAGE_RULES])
def test_german_page_shows_no_english(app, world, rule):
    stock(world, list(SkipReason))
    answers = list(_answers(app, world, rule))
    assert answers, f"{rule.rule} rendered no page for anyone: give it data, or list it in NOT_PAGES"
    english = [(who, url, text) for who, url, html in answers for text in english_in(html)]
    assert english == []


@pytest.mark.parametrize("endpoint", ["sync.run", "sync.preview", "manual.import_status"])
def test_german_pages_show_the_planners_skip_reasons_translated(app, world, endpoint):
    stock(world, list(SkipReason))
    rule = next(r for r in GET_RULES if r.endpoint == endpoint)
    answers = list(_answers(app, world, rule))
    assert answers
    english = [(who, url, text) for who, url, html in answers for text in english_in(html)]
    assert english == []
