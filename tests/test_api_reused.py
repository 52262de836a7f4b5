"""config.api.Reused: a hot endpoint's serializers, their fields built once a thread, check and
show exactly what a serializer made for the request would, and keep nothing of a request."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from config.api import Reused, Text


class Body(serializers.Serializer):  # type: ignore[type-arg]
    name = Text(max_length=5)
    count = serializers.IntegerField(min_value=1)


class Shown(serializers.Serializer):  # type: ignore[type-arg]
    name = Text()
    link = serializers.SerializerMethodField()

    def get_link(self, instance: Any) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri("/x/") if request is not None else "/x/"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "toolong", "count": 0},
        {"count": "two"},
        ["not", "an", "object"],
        None,
        "text",
    ],
)
def test_a_body_is_refused_with_the_errors_a_new_serializer_gives(body: Any) -> None:
    with pytest.raises(ValidationError) as fresh:
        Body(data=body).is_valid(raise_exception=True)
    reused = Reused(Body)
    for _ in range(2):  # the first call builds the fields, the second reuses them
        with pytest.raises(ValidationError) as refused:
            reused.check(body)
        assert refused.value.detail == fresh.value.detail


def test_a_body_is_validated_as_a_new_serializer_validates_it() -> None:
    reused = Reused(Body)
    assert reused.check({"name": "ab", "count": "3"}) == {"name": "ab", "count": 3}
    assert reused.check({"name": "cd", "count": 4}) == {"name": "cd", "count": 4}
    assert set(reused.fields) == {"name", "count"}


def test_an_answer_has_its_own_request_and_no_other() -> None:
    reused = Reused(Shown)
    request = RequestFactory().get("/", HTTP_HOST="shop.example")
    instance = {"name": "a"}
    assert reused.show(instance, {"request": request}) == {
        "name": "a",
        "link": "http://shop.example/x/",
    }
    # the next answer without a request does not see the last one's
    assert reused.show(instance) == {"name": "a", "link": "/x/"}
    assert reused.show(instance) == dict(Shown(instance).data)


def test_each_thread_has_its_own_serializer() -> None:
    reused = Reused(Body)
    made: list[Any] = []

    def use() -> None:
        reused.check({"name": "a", "count": 1})
        made.append(reused._local.serializer)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    use()
    assert len({id(serializer) for serializer in made}) == 3
