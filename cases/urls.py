from django.urls import path

from cases.views import actions, detail, queue, register

app_name = "cases"


def action(route: str, name: str):
    """A POST action of the case page (cases/views/workflow.py), named as its action."""
    return path(f"<int:pk>/{route}/", actions.case_action, {"action": name}, name=name)


urlpatterns = [
    # The queue and its saved views (cases/views/queue.py).
    path("", queue.case_list, name="index"),
    path("views/", queue.saved_view_create, name="view_create"),
    path("views/<int:pk>/delete/", queue.saved_view_remove, name="view_delete"),
    # A filing received through another channel (cases/views/register.py).
    path("new/", register.case_new, name="new"),
    # The case page, its files and documents, the knowledge base (cases/views/detail.py).
    path("<int:pk>/", detail.case_detail, name="detail"),
    path(
        "<int:pk>/attachments/<int:attachment_pk>/",
        detail.attachment_download,
        name="attachment",
    ),
    path("<int:pk>/documents/<str:kind>/", detail.document_download, name="document"),
    path("<int:pk>/articles/", detail.article_search, name="articles"),
    # The workflow (cases/views/actions.py): POST only.
    action("assign", "assign"),
    action("start", "start"),
    action("request-information", "request_information"),
    action("comment", "comment"),
    action("answer", "answer"),
    action("close", "close"),
    action("reject", "reject"),
    action("duplicate", "duplicate"),
    action("forward", "forward"),
    action("tasks/new", "task_add"),
    path("<int:pk>/tasks/<int:task_pk>/complete/", actions.task_complete, name="task_complete"),
]
