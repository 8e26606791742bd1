"""Public pages of campaign email, reached from a message with a signed token (no login).

- ``unsubscribe``: the page (one button) and the RFC 8058 one-click POST
  (``List-Unsubscribe=One-Click``) at the same URL; both unsubscribe at once. Only this view is
  exempt from CSRF: mail providers post to it without a token, and the signed token in the URL
  is what authorises the request.
- ``preferences``: the person's preference centre (which purposes they accept, and whether this
  address receives campaign email); changes are Consent statements with their proof.
- ``opened`` / ``click``: the tracking pixel and links, recorded only for campaigns that turned
  tracking on. The click redirect goes only to the URL signed into its token.
"""

from __future__ import annotations

import base64

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from campaigns import mailer, sending
from campaigns.models import Delivery, Suppression, TrackingEvent
from citizens.gdpr import consent_record, current_consents
from citizens.models import Consent, ConsentPurpose
from crm.audit import client_ip

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _delivery(token: str, salt: str = mailer.UNSUBSCRIBE_SALT) -> Delivery:
    delivery_id = mailer.delivery_for_token(token, salt)
    if delivery_id is None:
        raise Http404
    delivery = (
        Delivery.objects.select_related("campaign", "person", "campaign__purpose")
        .filter(pk=delivery_id, person__isnull=False)  # not one anonymised by retention
        .first()
    )
    if delivery is None:
        raise Http404
    return delivery


def masked(address: str) -> str:
    """``a•••@example.org``: enough for the person to recognise their address."""
    local, _at, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def _evidence(request: HttpRequest, delivery: Delivery, how: str) -> str:
    return (
        f"{how}; delivery {delivery.pk} (campaign {delivery.campaign_id}); "
        f"IP {client_ip(request) or '-'}; "
        f"user agent {request.META.get('HTTP_USER_AGENT', '-')[:200]}"
    )


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    delivery = _delivery(token)
    done = sending.is_suppressed(delivery.email)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        how = "RFC 8058 one-click POST" if one_click else "unsubscribe page"
        sending.unsubscribe(
            delivery=delivery, source=how, evidence=_evidence(request, delivery, how)
        )
        if one_click:
            return HttpResponse(_("You are unsubscribed."), content_type="text/plain")
        return redirect("campaigns_public:unsubscribe", token=token)
    return render(
        request,
        "campaigns/public/unsubscribe.html",
        {
            "delivery": delivery,
            "address": masked(delivery.email),
            "done": done,
            "token": token,
        },
    )


class PreferencesForm(forms.Form):
    receive = forms.BooleanField(
        label=gettext_lazy("Receive campaign email at this address"), required=False
    )

    def __init__(self, *args, purposes: list[ConsentPurpose], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.purposes = purposes
        for purpose in purposes:
            self.fields[f"purpose_{purpose.pk}"] = forms.BooleanField(
                label=purpose.name, help_text=purpose.text, required=False
            )

    def purpose_fields(self):
        return [self[f"purpose_{purpose.pk}"] for purpose in self.purposes]


@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    delivery = _delivery(token)
    person = delivery.person
    if person.blocked_at or person.merged_into_id:
        raise Http404
    purposes = list(ConsentPurpose.objects.filter(is_active=True).order_by("name", "pk"))
    current = {consent.purpose_id: consent.granted for consent in current_consents(person)}
    suppression = Suppression.objects.filter(
        address=delivery.email.lower(), lifted_at__isnull=True
    ).first()
    receiving = suppression is None
    initial = {"receive": receiving}
    initial.update({f"purpose_{p.pk}": current.get(p.pk, False) for p in purposes})
    form = PreferencesForm(request.POST or None, initial=initial, purposes=purposes)
    if request.method == "POST" and form.is_valid():
        evidence = _evidence(request, delivery, "preference centre")
        with transaction.atomic():
            for purpose in purposes:
                granted = form.cleaned_data[f"purpose_{purpose.pk}"]
                if granted != current.get(purpose.pk, False):
                    consent_record(
                        person=person,
                        purpose=purpose,
                        granted=granted,
                        source=Consent.Source.PREFERENCE_CENTRE,
                        actor=None,
                        evidence=evidence,
                    )
            if form.cleaned_data["receive"] and not receiving:
                sending.resubscribe(delivery=delivery, evidence=evidence)
            elif not form.cleaned_data["receive"] and receiving:
                sending.unsubscribe(
                    delivery=delivery, source="preference centre", evidence=evidence
                )
        messages.success(request, _("Your preferences have been saved."))
        return redirect("campaigns_public:preferences", token=token)
    return render(
        request,
        "campaigns/public/preferences.html",
        {
            "delivery": delivery,
            "address": masked(delivery.email),
            "form": form,
            "token": token,
            "hard_bounced": suppression is not None
            and suppression.reason == Suppression.Reason.HARD_BOUNCE,
        },
    )


def _record(delivery: Delivery, kind: str, url: str = "") -> None:
    now = timezone.now()
    TrackingEvent.objects.create(delivery=delivery, kind=kind, url=url, occurred_at=now)
    field = "opened_at" if kind == TrackingEvent.Kind.OPEN else "clicked_at"
    Delivery.objects.filter(pk=delivery.pk, **{f"{field}__isnull": True}).update(**{field: now})
    if kind == TrackingEvent.Kind.CLICK:  # a click shows the message was opened
        Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=now)


@never_cache
@require_GET
def opened(request: HttpRequest, token: str) -> HttpResponse:
    delivery_id = mailer.delivery_for_token(token, mailer.OPEN_SALT)
    if delivery_id is not None:
        delivery = Delivery.objects.select_related("campaign").filter(pk=delivery_id).first()
        if delivery is not None and delivery.campaign.track_opens:
            _record(delivery, TrackingEvent.Kind.OPEN)
    return HttpResponse(PIXEL, content_type="image/gif")


@never_cache
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    target = mailer.click_target(token)
    if target is None:
        raise Http404
    delivery_id, url = target
    delivery = Delivery.objects.select_related("campaign").filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    if delivery.campaign.track_clicks:
        _record(delivery, TrackingEvent.Kind.CLICK, url)
    return HttpResponseRedirect(url)
