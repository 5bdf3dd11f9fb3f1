from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, moto_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    with moto_stack() as created:
        yield created
