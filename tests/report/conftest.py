"""Reading the HTML reports back: every element, its classes and id, and the text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest


class Elements(HTMLParser):
    """Every start tag as (tag, attrs), the ids, and the text content, of one document."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.tags if name in a.get("class", "").split()]

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}

    def assert_inert(self) -> None:
        """Nothing in the page runs or loads anything: no script, no handler, no remote URL."""
        for tag, attrs in self.tags:
            assert tag not in ("script", "iframe", "object", "embed", "link", "img"), (tag, attrs)
            for k, v in attrs.items():
                assert not k.startswith("on"), (tag, k, v)
                assert "://" not in v or k == "xmlns", (tag, k, v)


@pytest.fixture
def elements():
    return Elements
