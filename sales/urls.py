from django.urls import path

from crm.views import module_index

from .calendar_feed import ical_feed
from .views import board, fieldwork, leads, opportunities, quotes
from .views import calendar as calendar_views

app_name = "sales"

urlpatterns = [
    path("", module_index, {"module": "sales"}, name="index"),
    # The funnel (docs/sales.md).
    path("leads/", leads.lead_list, name="lead_list"),
    path("leads/new/", leads.lead_new, name="lead_new"),
    path("leads/import/", leads.lead_import, name="lead_import"),
    path("leads/<int:pk>/", leads.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/edit/", leads.lead_edit, name="lead_edit"),
    path("leads/<int:pk>/status/", leads.lead_status, name="lead_status"),
    path("leads/<int:pk>/note/", leads.lead_note, name="lead_note"),
    path("leads/<int:pk>/convert/", leads.lead_convert_view, name="lead_convert"),
    path("board/", board.board, name="board_default"),
    path("board/<int:pk>/", board.board, name="board"),
    path("opportunities/", opportunities.opportunity_list, name="opportunity_list"),
    path("opportunities/new/", opportunities.opportunity_new, name="opportunity_new"),
    path("opportunities/<int:pk>/", opportunities.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", opportunities.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<int:pk>/move/", board.move, name="opportunity_move"),
    path(
        "opportunities/<int:pk>/close/",
        opportunities.opportunity_close_view,
        name="opportunity_close",
    ),
    path(
        "opportunities/<int:pk>/reopen/",
        opportunities.opportunity_reopen_view,
        name="opportunity_reopen",
    ),
    path("opportunities/<int:pk>/quote/", opportunities.quote_new, name="quote_new"),
    path("opportunities/<int:pk>/lines/", opportunities.opportunity_line, name="opportunity_line"),
    path("forecast/", opportunities.forecast, name="forecast"),
    path("catalogue/", opportunities.catalogue, name="catalogue"),
    path("quotes/<int:pk>/", quotes.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/save/", quotes.quote_save, name="quote_save"),
    path("quotes/<int:pk>/version/", quotes.quote_new_version, name="quote_new_version"),
    path("quotes/<int:pk>/send/", quotes.quote_send_view, name="quote_send"),
    path("quotes/<int:pk>/accept/", quotes.quote_accept_view, name="quote_accept"),
    path("quotes/<int:pk>/reject/", quotes.quote_reject_view, name="quote_reject"),
    path("quotes/<int:pk>/pdf/", quotes.quote_pdf_view, name="quote_pdf"),
    # Field work (docs/sales.md, "Field work").
    path("visits/", fieldwork.visit_list, name="visit_list"),
    path("visits/new/", fieldwork.visit_new, name="visit_new"),
    path("visits/<int:pk>/", fieldwork.visit_detail, name="visit_detail"),
    path("visits/<int:pk>/edit/", fieldwork.visit_edit, name="visit_edit"),
    path("visits/<int:pk>/cancel/", fieldwork.visit_cancel_view, name="visit_cancel"),
    path("visits/<int:pk>/case/", fieldwork.visit_case, name="visit_case"),
    path("visits/<int:pk>/opportunity/", fieldwork.visit_opportunity, name="visit_opportunity"),
    path("visits/<int:pk>/files/<int:file_pk>/", fieldwork.visit_file, name="visit_file"),
    path("tasks/", fieldwork.task_list, name="task_list"),
    path("tasks/new/", fieldwork.task_new, name="task_new"),
    path("tasks/<int:pk>/", fieldwork.task_edit, name="task_edit"),
    path("tasks/<int:pk>/done/", fieldwork.task_done, name="task_done"),
    path("meetings/new/", fieldwork.meeting_new, name="meeting_new"),
    path("meetings/<int:pk>/", fieldwork.meeting_detail, name="meeting_detail"),
    path("meetings/<int:pk>/cancel/", fieldwork.meeting_cancel_view, name="meeting_cancel"),
    path("calendar/", calendar_views.calendar_view, name="calendar"),
    path("calendar/subscribe/", calendar_views.feed_page, name="calendar_feed"),
    path("calendar/subscribe/new/", calendar_views.feed_regenerate, name="calendar_feed_new"),
    path("calendar/subscribe/revoke/", calendar_views.feed_revoke, name="calendar_feed_revoke"),
    # The iCalendar feed: no login, the secret in the URL (sales.calendar_feed).
    path("calendar/feed/<str:token>.ics", ical_feed, name="ical"),
]
