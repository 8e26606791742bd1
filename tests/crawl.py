"""A crawler of the staff UI through Django's test client (tests/test_crawl.py).

It starts at the home page, follows every link and opens every form of the pages it reaches,
visiting at most ``per_route`` pages of each URL pattern (a list of 50 people links to 50 pages
of one pattern; two of them tell as much as fifty). For each page it keeps what the tests check:
the status, the module the page belongs to, its visible text and its forms.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from django.http import HttpResponse
from django.test import Client
from django.urls import Resolver404, resolve

# Never followed: static files, files, the admin (Django's own, tested by Django), leaving the
# session, switching the language (the crawl chooses it) and changing one's password.
SKIPPED = re.compile(r"^/(static|media|admin|i18n)/|^/accounts/(logout|password_change)/")
# Elements whose text is not shown as UI text.
NOT_TEXT = {"script", "style", "template", "textarea", "option", "code", "pre"}


@dataclass
class Form:
    action: str
    method: str
    fields: list[dict[str, str]] = field(default_factory=list)
    selects: dict[str, list[str]] = field(default_factory=dict)


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self.texts: list[str] = []
        self._skip_depth = 0
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in NOT_TEXT:
            self._skip_depth += 1
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "button" and self.forms and values.get("type", "submit") == "submit":
            values.setdefault("name", "")
            values["type"] = "submit"
            self.forms[-1].fields.append(values)
        elif tag in {"input", "textarea"} and self.forms and values.get("name"):
            values.setdefault("type", "textarea" if tag == "textarea" else "text")
            values["tag"] = tag
            self.forms[-1].fields.append(values)
        elif tag == "select" and self.forms and values.get("name"):
            self._select = values["name"]
            self.forms[-1].selects[self._select] = []
        elif tag == "option" and self._select is not None:
            self.forms[-1].selects[self._select].append(values.get("value", ""))
        for name in ("title", "aria-label", "placeholder", "alt"):
            if values.get(name):
                self.texts.append(values[name])

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_TEXT and self._skip_depth:
            self._skip_depth -= 1
        if tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            text = " ".join(data.split())
            if text:
                self.texts.append(text)


@dataclass
class Page:
    url: str
    status: int
    namespace: str
    route: str
    texts: list[str]
    forms: list[Form]
    found_on: str
    response: HttpResponse


def route_of(path: str) -> tuple[str, str] | None:
    """(namespace, route pattern) of a path, or None when nothing serves it."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.namespace, match.route


def crawl(
    client: Client, *, start: str = "/", per_route: int = 2, limit: int = 400
) -> Iterator[Page]:
    seen: set[str] = set()
    per_pattern: Counter[str] = Counter()
    queue: deque[tuple[str, str]] = deque([(start, "")])
    while queue and len(seen) < limit:
        url, found_on = queue.popleft()
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or SKIPPED.search(parts.path) or url in seen:
            continue
        resolved = route_of(parts.path)
        pattern = resolved[1] if resolved else parts.path
        if per_pattern[pattern] >= per_route:
            continue
        seen.add(url)
        per_pattern[pattern] += 1
        response = client.get(url)
        parser = PageParser()
        if response.get("Content-Type", "").startswith("text/html"):
            parser.feed(response.content.decode(response.charset or "utf-8", "replace"))
        namespace = resolved[0] if resolved else ""
        yield Page(
            url,
            response.status_code,
            namespace,
            pattern,
            parser.texts,
            parser.forms,
            found_on,
            response,
        )
        if response.status_code == 200:
            for href in parser.links:
                target = urljoin(url, href).split("#")[0]
                if target and target not in seen:
                    queue.append((target, url))
            for form in parser.forms:
                if form.method == "get":
                    target = urljoin(url, form.action or url).split("#")[0]
                    if target not in seen:
                        queue.append((target, url))
