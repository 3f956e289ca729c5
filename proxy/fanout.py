"""How several clouds' lists become one: pages joined, clouds merged. No IO."""

from __future__ import annotations

import json
from typing import Any

from multidict import CIMultiDict

from openstackoid.proxy.buffered import Buffered, made
from openstackoid.proxy.listing import CLOUD_TAG as CLOUD_TAG
from openstackoid.proxy.listing import PARTIAL_FAILURE as PARTIAL_FAILURE
from openstackoid.proxy.listing import drop_links, json_object, list_key

MAX_PAGES = 100
"""Pages followed per cloud when merging a list; bounds the work of one request."""


def collected(first: Buffered, document: dict[str, Any], key: str, items: list[Any]) -> Buffered:
    """A cloud's first page holding the items of all its pages, and no next link."""
    document[key] = items
    drop_links(document)
    return first.with_body(json.dumps(document).encode())


def merge(answers: list[Buffered]) -> tuple[Buffered, list[str]]:
    """Collections are concatenated, each item tagged with its cloud; a single resource
    comes from the first cloud that has it. Also says which clouds sent no JSON: they are
    left out, like clouds that failed."""
    documents = []
    garbled = []
    for answer in answers:
        document = json_object(answer.body)
        if document is None:
            garbled.append(answer)
        else:
            documents.append(document)
    if not documents:
        return answers[0], []  # nothing to merge: relayed as is, like a single cloud's body
    failures = [f"{a.cloud}: an answer that is not JSON" for a in garbled]
    answers = [a for a in answers if a not in garbled]
    key = list_key(documents[0])
    if key is None or any(list_key(d) != key for d in documents):
        return answers[0], failures
    items: list[Any] = []
    for answer, document in zip(answers, documents, strict=True):
        for item in document[key]:
            if isinstance(item, dict):
                item.setdefault(CLOUD_TAG, answer.cloud)
            items.append(item)
    merged = documents[0]
    merged[key] = items
    # Each cloud's pages were followed: the merged whole has no next page.
    drop_links(merged)
    headers = CIMultiDict(answers[0].headers)
    headers.popall("Content-Length", None)
    return made(200, headers, json.dumps(merged).encode()), failures
