"""Staff pages say every answer of the login and of access control in words, in Arabic and English:
a throttled login (429), a busy hashing pool or a database out of reach (503), another hall's
account, another window's ticket or file. The pages look up `err.<code>`; a code missing from a
page's dictionary would fall back to the generic text."""
from __future__ import annotations

import re

import pytest

from tests.support import ROOT

PAGES = ["counter_client/static/counter.js", "hall_server/static/supervisor-common.js",
         "hall_server/static/backoffice.js"]
# What the server answers any staff login or action with, whatever the page.
CODES = ["bad_credentials", "too_many_attempts", "login_busy", "unavailable", "unauthorized", "forbidden",
         "other_hall", "not_your_ticket", "not_your_file"]


@pytest.mark.parametrize("page", PAGES)
def test_every_login_and_access_answer_is_in_words_in_both_languages(page):
    text = (ROOT / page).read_text("utf-8")
    for code in CODES:
        found = re.findall(r'"err\.' + code + r'":\s*"([^"]+)"', text)
        assert len(found) == 2, f"{page}: err.{code} should be in the Arabic and the English strings, found {found}"
        ar, en = found
        assert re.search(r"[\u0600-\u06FF]", ar) and not re.search(r"[A-Za-z]", ar), (page, code, ar)
        assert re.search(r"[A-Za-z]", en) and not re.search(r"[\u0600-\u06FF]", en), (page, code, en)
