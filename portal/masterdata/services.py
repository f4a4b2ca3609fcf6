"""Master data rules the pages share: the customer's sync choice and applying form data."""

SYNC_CHOICES = {"inherit": None, "on": True, "off": False}


def sync_choice(customer):
    """The customer form's value for Customer.ms_user_sync (None/True/False)."""
    return {None: "inherit", True: "on", False: "off"}[customer.ms_user_sync]


def form_data(customer):
    """The customer's master data as the form's initial values."""
    fields = (
        "name",
        "street",
        "postal_code",
        "city",
        "country",
        "notification_recipients",
        "allowed_domains",
    )
    data = {name: getattr(customer, name) for name in fields}
    data["ms_user_sync"] = sync_choice(customer)
    data["email_language"] = customer.email_language or ""
    return data


def apply_master_data(tenant, values):
    """Copy cleaned master data values onto a Reseller or Customer."""
    for key, value in values.items():
        setattr(tenant, key, value)
