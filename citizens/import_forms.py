"""Forms of the import of people and organisations (views in citizens.views.imports)."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from citizens.import_files import Target, check_mapping
from citizens.models import ImportKind

ENCODING_CHOICES = [
    ("", _("Detect it")),
    ("utf-8", _("UTF-8 (with or without BOM)")),
    ("windows-1252", _("Windows-1252 (Excel in Spanish, older programs)")),
]
DELIMITER_CHOICES = [
    ("", _("Detect it")),
    (";", _("Semicolon (;)")),
    (",", _("Comma (,)")),
    ("\t", _("Tab")),
    ("|", _("Vertical bar (|)")),
]
IGNORE = ""


class ReadingForm(forms.Form):
    """How a CSV file is read."""

    encoding = forms.ChoiceField(label=_("Encoding"), choices=ENCODING_CHOICES, required=False)
    delimiter = forms.ChoiceField(
        label=_("Column separator"), choices=DELIMITER_CHOICES, required=False
    )


class UploadForm(ReadingForm):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (values separated by ; or ,) or Excel .xlsx, with the column names in the "
            "first row. At most %(size)s."
        ),
    )
    kind = forms.ChoiceField(
        label=_("It holds"),
        choices=ImportKind.choices,
        initial=ImportKind.PERSON,
        widget=forms.RadioSelect,
    )
    field_order = ["file", "kind", "encoding", "delimiter"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        size = filesizeformat(settings.IMPORT_MAX_FILE_SIZE)
        self.fields["file"].help_text = self.fields["file"].help_text % {"size": size}
        self.fields["file"].widget.attrs["accept"] = (
            ".csv,.txt,.xlsx,text/csv,"
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_FILE_SIZE:
            raise forms.ValidationError(
                _("The file is larger than %(size)s: split it into smaller files."),
                params={"size": filesizeformat(settings.IMPORT_MAX_FILE_SIZE)},
            )
        return upload


class MappingForm(forms.Form):
    """One choice per column of the file: a field to import it into, or ignore it."""

    def __init__(
        self,
        *args,
        kind: str,
        headers: Sequence[str],
        targets: Sequence[Target],
        initial_mapping: Sequence[str],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.headers = list(headers)
        choices = [(IGNORE, _("— Ignore this column —"))]
        choices += [(target.name, target.label) for target in targets]
        for index, header in enumerate(self.headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header,
                choices=choices,
                required=False,
                initial=initial_mapping[index] if index < len(initial_mapping) else IGNORE,
            )

    @property
    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"column_{index}", "") for index in range(len(self.headers))]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            check_mapping(self.kind, self.headers, self.mapping)
        return cleaned

    def column_fields(self):
        return [self[f"column_{index}"] for index in range(len(self.headers))]
