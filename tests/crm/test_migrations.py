"""Every model change comes with its migration."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    output = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=output, stderr=output)
    except SystemExit:
        pytest.fail(
            f"makemigrations --check found changes without a migration:\n{output.getvalue()}"
        )
    assert "No changes detected" in output.getvalue()
