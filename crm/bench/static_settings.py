"""Settings for collecting the bench server's static files, and nothing else.

A deployment's storage (WhiteNoise's CompressedManifestStaticFilesStorage) spends about half a
minute compressing every file with gzip and Brotli. The bench server renders pages exactly as a
deployment does, from the same ``staticfiles.json`` manifest of hashed names, which Django's own
manifest storage writes in a second; the precompressed copies would only matter to requests for
the static files themselves, which no scenario measures.
"""

from crm.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
