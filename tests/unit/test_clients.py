"""A client standing in for the one a factory makes, made only when first used."""

from __future__ import annotations

from tally.storage import clients


class Client:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_item(self, key: str) -> str:
        self.calls.append(key)
        return f"item {key}"


def test_the_client_is_made_on_first_use_then_reused() -> None:
    made: list[Client] = []

    def factory() -> Client:
        if not made:
            made.append(Client())
        return made[0]

    client = clients.on_first_use(factory)
    assert made == []  # nothing made until an adapter calls it

    assert client.get_item("a") == "item a"
    assert client.get_item("b") == "item b"
    assert len(made) == 1
    assert made[0].calls == ["a", "b"]
