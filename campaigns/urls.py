from django.urls import path

from .views import campaigns as c
from .views import sending as sending_views
from .views import targets as t
from .views import templates as tpl

app_name = "campaigns"

urlpatterns = [
    path("", c.campaign_list, name="index"),
    path("new/", c.campaign_create, name="new"),
    path("<int:pk>/", c.campaign_detail, name="detail"),
    path("<int:pk>/edit/", c.campaign_edit, name="edit"),
    path("<int:pk>/email/", c.campaign_email, name="email"),
    path("<int:pk>/results/", c.campaign_results, name="results"),
    path("<int:pk>/delete/", c.campaign_delete, name="delete"),
    path("<int:pk>/action/<slug:action>/", c.campaign_action, name="action"),
    path("<int:pk>/budget/new/", c.budget_line_edit, name="budget_new"),
    path("<int:pk>/budget/<int:line_pk>/", c.budget_line_edit, name="budget_edit"),
    path("<int:pk>/budget/<int:line_pk>/delete/", c.budget_line_delete, name="budget_delete"),
    path("<int:pk>/objectives/new/", c.objective_edit, name="objective_new"),
    path("<int:pk>/objectives/<int:objective_pk>/", c.objective_edit, name="objective_edit"),
    path(
        "<int:pk>/objectives/<int:objective_pk>/delete/",
        c.objective_delete,
        name="objective_delete",
    ),
    path("<int:pk>/interactions/new/", c.interaction_add, name="interaction_new"),
    path("<int:pk>/email/use-template/", tpl.use_template, name="use_template"),
    path("templates/", tpl.template_list, name="templates"),
    path("templates/new/", tpl.template_edit, name="template_new"),
    path("templates/<int:pk>/", tpl.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", tpl.template_delete, name="template_delete"),
    path("targets/", t.target_list, name="targets"),
    path("segments/new/", t.segment_edit, name="segment_new"),
    path("segments/count/", t.segment_count, name="segment_count"),
    path("segments/<int:pk>/", t.segment_detail, name="segment"),
    path("segments/<int:pk>/edit/", t.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/freeze/", t.segment_freeze, name="segment_freeze"),
    path("segments/<int:pk>/delete/", t.segment_delete, name="segment_delete"),
    path("lists/upload/", t.static_list_upload, name="list_upload"),
    path("lists/<int:pk>/", t.static_list_detail, name="list"),
    path("lists/<int:pk>/delete/", t.static_list_delete, name="list_delete"),
    # Sending (campaigns.views.sending); the public pages are campaigns.public_urls.
    path("<int:pk>/sending/", sending_views.progress, name="sending_progress"),
    path("<int:pk>/sending/launch/", sending_views.launch, name="launch"),
    path("<int:pk>/sending/pause/", sending_views.pause, name="pause"),
    path("<int:pk>/sending/resume/", sending_views.resume, name="resume"),
    path("<int:pk>/sending/retry/", sending_views.retry, name="retry_failed"),
]
