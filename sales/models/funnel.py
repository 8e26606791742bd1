"""The funnel: leads, pipelines and stages, opportunities (multi-currency), the catalogue,
quotes with versions and agreements. Writes go through ``sales.services``."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}
CURRENCY_CODE = {"max_length": 3}


def _user_fk(verbose_name, **kwargs):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        **kwargs,
    )


# --- Currencies --------------------------------------------------------------------------------


class ExchangeRate(models.Model):
    """How many units of ``currency`` one unit of the base currency (settings.BASE_CURRENCY)
    buys on ``valid_from``; the rate applies until the next one of the same currency."""

    currency = models.CharField(_("currency"), **CURRENCY_CODE)
    valid_from = models.DateField(_("valid from"))
    rate = models.DecimalField(
        _("units per unit of base currency"),
        max_digits=18,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"))],
    )

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="sales_rate_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="sales_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate} ({self.valid_from})"


# --- Pipelines ---------------------------------------------------------------------------------


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    probability = models.PositiveSmallIntegerField(
        _("probability (%)"), validators=[MaxValueValidator(100)], default=10
    )

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="sales_stage_name"),
            models.CheckConstraint(
                condition=Q(probability__lte=100), name="sales_stage_probability"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} · {self.name}"


# --- Leads -------------------------------------------------------------------------------------


class LeadSource(models.TextChoices):
    WEB_FORM = "web_form", _("Public interest form")
    STAFF = "staff", _("Staff entry")
    IMPORT = "import", _("Import")
    FAIR = "fair", _("Fair or event")


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    CONVERTED = "converted", _("Converted")
    DISCARDED = "discarded", _("Discarded")


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)


class LeadQuerySet(models.QuerySet):
    def for_user(self, user) -> LeadQuerySet:
        if not user.is_authenticated or not user.has_perm("sales.access"):
            return self.none()
        return self

    def open(self) -> LeadQuerySet:
        return self.filter(status__in=OPEN_LEAD_STATUSES)


class Lead(models.Model):
    """A prospect: someone who showed interest, before they are a person/organisation."""

    source = models.CharField(_("source"), max_length=10, choices=LeadSource.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=LeadStatus.choices, default=LeadStatus.NEW
    )
    given_name = models.CharField(_("given name"), max_length=100, blank=True)
    surnames = models.CharField(_("surnames"), max_length=200, blank=True)
    document_number = models.CharField(_("document number (DNI/NIE)"), max_length=30, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    organization_name = models.CharField(_("organisation"), max_length=200, blank=True)
    tax_id = models.CharField(_("tax id (CIF/NIF)"), max_length=20, blank=True)
    interest = models.TextField(_("what they are interested in"), blank=True)
    event = models.CharField(_("fair or event"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    owner = _user_fk(_("owner"))
    unit = models.ForeignKey(
        "crm.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.SET_NULL
    )
    discard_reason = models.CharField(_("reason for discarding"), max_length=200, blank=True)
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    organization = models.ForeignKey(
        "citizens.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        verbose_name=_("opportunity"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    created_by = _user_fk(_("created by"))
    converted_at = models.DateTimeField(_("converted"), null=True, blank=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="sales_lead_recent"),
            models.Index(fields=["status", "-created_at", "-id"], name="sales_lead_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(given_name="", organization_name=""),
                name="sales_lead_has_name",
            )
        ]

    def __str__(self) -> str:
        name = " ".join(part for part in (self.given_name, self.surnames) if part)
        if self.organization_name:
            return f"{name} ({self.organization_name})" if name else self.organization_name
        return name

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEAD_STATUSES


class LeadEvent(models.Model):
    """The lead's history: what happened to it, by whom; kept after conversion and shown on
    the person, organisation and opportunity it became."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    actor = _user_fk(_("by"))
    status = models.CharField(_("status"), max_length=10, choices=LeadStatus.choices, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("lead event")
        verbose_name_plural = _("lead events")
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.lead_id} {self.status} {self.occurred_at:%Y-%m-%d}"


# --- Opportunities -----------------------------------------------------------------------------


class OpportunityStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class OpportunityQuerySet(models.QuerySet):
    def for_user(self, user) -> OpportunityQuerySet:
        """Promotion works body-wide: whoever holds ``sales.access`` sees every opportunity."""
        if not user.is_authenticated or not user.has_perm("sales.access"):
            return self.none()
        return self

    def open(self) -> OpportunityQuerySet:
        return self.filter(status=OpportunityStatus.OPEN)


class Opportunity(models.Model):
    title = models.CharField(_("title"), max_length=200)
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    organization = models.ForeignKey(
        "citizens.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.PROTECT, related_name="+"
    )
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="opportunities"
    )
    amount = models.DecimalField(
        _("amount"), **MONEY, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), **CURRENCY_CODE, default="EUR")
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    owner = _user_fk(_("owner"))
    unit = models.ForeignKey(
        "crm.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(
        _("status"),
        max_length=4,
        choices=OpportunityStatus.choices,
        default=OpportunityStatus.OPEN,
    )
    reason = models.CharField(_("reason (won/lost)"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = _user_fk(_("created by"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Position inside the stage's column on the board (lower first).
    position = models.BigIntegerField(default=0)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        indexes = [
            # The board: each column's first cards, and its sums.
            models.Index(
                fields=["stage", "position", "id"],
                name="sales_opp_board",
                condition=Q(status="open"),
                include=["amount", "currency"],
            ),
            models.Index(fields=["-created_at", "-id"], name="sales_opp_recent"),
            models.Index(fields=["expected_close", "id"], name="sales_opp_close"),
            models.Index(fields=["owner", "status", "expected_close"], name="sales_opp_owner"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False) | Q(organization__isnull=False),
                name="sales_opportunity_has_party",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="sales_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def party(self):
        return self.organization or self.person


class StageTotal(models.Model):
    """The open opportunities of a stage in one currency: how many and their sum. Kept by
    database triggers on ``sales_opportunity`` (migration ``0006_stage_totals_trigger``: one
    upsert per statement, whatever writes the rows, COPY included), so the board reads a few
    rows instead of aggregating every open opportunity. Never written by Python code."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(**CURRENCY_CODE)
    open_count = models.BigIntegerField(default=0)
    open_amount = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))

    class Meta:
        verbose_name = _("stage total")
        verbose_name_plural = _("stage totals")
        constraints = [
            models.UniqueConstraint(fields=["stage", "currency"], name="sales_stage_total_key")
        ]

    def __str__(self) -> str:
        return f"{self.stage_id} {self.currency}: {self.open_count} / {self.open_amount}"


class OpportunityLine(models.Model):
    """A product or service the opportunity is about (quotes carry their own lines)."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "sales.Product", verbose_name=_("product or service"), on_delete=models.PROTECT
    )
    quantity = models.DecimalField(
        _("quantity"), max_digits=12, decimal_places=3, default=Decimal("1")
    )

    class Meta:
        verbose_name = _("product of the opportunity")
        verbose_name_plural = _("products of the opportunity")
        constraints = [
            models.UniqueConstraint(fields=["opportunity", "product"], name="sales_opp_product")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"


# --- Catalogue ---------------------------------------------------------------------------------


class ProductCategory(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Kind(models.TextChoices):
        PRODUCT = "product", _("Product")
        SERVICE = "service", _("Service")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SERVICE)
    category = models.ForeignKey(
        ProductCategory,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="products",
    )
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(
        _("price (without VAT)"), **MONEY, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), **CURRENCY_CODE, default="EUR")
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("21"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product or service")
        verbose_name_plural = _("products and services")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Quotes ------------------------------------------------------------------------------------


class Quote(models.Model):
    """An offer for an opportunity; its content lives in numbered versions."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="quotes"
    )
    number = models.CharField(_("number"), max_length=30, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = _user_fk(_("created by"))

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.number


class QuoteVersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    SUPERSEDED = "superseded", _("Superseded")


class QuoteVersion(models.Model):
    """One version of a quote; once sent it is never changed (a new version copies it)."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveSmallIntegerField(_("version"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=QuoteVersionStatus.choices,
        default=QuoteVersionStatus.DRAFT,
    )
    currency = models.CharField(_("currency"), **CURRENCY_CODE, default="EUR")
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    notes = models.TextField(_("conditions and notes"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    sent_to = models.EmailField(_("sent to"), blank=True)
    decided_at = models.DateTimeField(_("accepted or rejected"), null=True, blank=True)
    # Totals as computed by sales.quotes.quote_totals when the version was last saved.
    total_base = models.DecimalField(_("taxable base"), **MONEY, default=Decimal("0"))
    total_vat = models.DecimalField(_("VAT"), **MONEY, default=Decimal("0"))
    total = models.DecimalField(_("total"), **MONEY, default=Decimal("0"))

    class Meta:
        verbose_name = _("quote version")
        verbose_name_plural = _("quote versions")
        ordering = ["quote", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["quote", "version"], name="sales_quote_version")
        ]

    def __str__(self) -> str:
        return f"{self.quote.number} v{self.version}"

    @property
    def is_editable(self) -> bool:
        return self.status == QuoteVersionStatus.DRAFT


class QuoteLine(models.Model):
    version = models.ForeignKey(QuoteVersion, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    product = models.ForeignKey(
        Product,
        verbose_name=_("product or service"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(
        _("quantity"),
        max_digits=12,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=14, decimal_places=4, validators=[MinValueValidator(0)]
    )
    discount = models.DecimalField(
        _("discount (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["version", "position", "id"]

    def __str__(self) -> str:
        return self.description


class Agreement(models.Model):
    """The agreement (convenio, contract, subscription) an accepted quote led to."""

    opportunity = models.ForeignKey(
        Opportunity,
        verbose_name=_("opportunity"),
        on_delete=models.PROTECT,
        related_name="agreements",
    )
    quote_version = models.ForeignKey(
        QuoteVersion,
        verbose_name=_("quote"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agreements",
    )
    title = models.CharField(_("title"), max_length=200)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY, default=Decimal("0"))
    currency = models.CharField(_("currency"), **CURRENCY_CODE, default="EUR")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = _user_fk(_("created by"))

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="sales_agreement_dates",
            )
        ]

    def __str__(self) -> str:
        return self.title
