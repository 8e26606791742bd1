"""One GIN index over the municipalities, tags and search text of people and of organisations.

The list's search with two facets (``q=garcia&municipality=Sevilla&tag=voluntariado`` on the
million-person bench set) went from three bitmap index scans (39,691 + 123,859 + 90,269 entries,
ANDed into 439 rows; about 60 ms of SQL on an idle machine) to one scan of this index, which
leapfrogs through the keys' entries and skips ahead in each (7-10 ms; docs/benchmarks.md). The
facets come first: in index-column order they lead the scan, and the text's trigrams are
checked where they meet. A query on one of the columns alone reads the same entries as the
single-column index did.

Built before the old indexes go, and without blocking writes (CONCURRENTLY: outside a
transaction, hence ``atomic = False``).
"""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("citizens", "0007_verbose_names")]

    operations = [
        AddIndexConcurrently(
            model_name="person",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["municipalities", "tags", "search_text"],
                name="person_find_gin",
                opclasses=["array_ops", "array_ops", "gin_trgm_ops"],
            ),
        ),
        AddIndexConcurrently(
            model_name="organization",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["municipalities", "tags", "search_text"],
                name="organization_find_gin",
                opclasses=["array_ops", "array_ops", "gin_trgm_ops"],
            ),
        ),
        RemoveIndexConcurrently(model_name="person", name="person_search_trgm"),
        RemoveIndexConcurrently(model_name="person", name="person_tags_gin"),
        RemoveIndexConcurrently(model_name="person", name="person_municipalities_gin"),
        RemoveIndexConcurrently(model_name="organization", name="organization_search_trgm"),
        RemoveIndexConcurrently(model_name="organization", name="organization_tags_gin"),
        RemoveIndexConcurrently(model_name="organization", name="organization_municipality_gin"),
    ]
