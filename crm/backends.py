from django.contrib.auth.backends import ModelBackend


class LocalBackend(ModelBackend):
    """Local accounts (administrators, the embedded default). A directory account never logs in
    with a local password, even one an administrator set by mistake: only the directory can
    let it in, so disabling it there is final."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "from_directory", False)
