"""The generic registry: registration, lookup, did-you-mean."""

from __future__ import annotations

import pytest

from alpool.errors import AlpoolError, UnknownNameError
from alpool.registry import Registry


def make() -> Registry[int]:
    reg: Registry[int] = Registry("scorer")
    reg.add("typicality", 1, "1 / mean kNN distance")
    reg.add("entropy", 2, "Shannon entropy")
    return reg


def test_get_returns_registered_object() -> None:
    reg = make()
    assert reg.get("entropy") == 2
    assert reg.names() == ["entropy", "typicality"]
    assert reg.entry("typicality").description == "1 / mean kNN distance"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        make().get("typicalty")
    message = str(info.value)
    assert "did you mean 'typicality'?" in message
    assert "choices: entropy, typicality" in message
    assert isinstance(info.value, AlpoolError)


def test_unknown_name_without_close_match_lists_choices() -> None:
    message = make().unknown_message("zzz")
    assert "did you mean" not in message and "choices: entropy, typicality" in message


def test_decorator_registers_and_returns_object() -> None:
    reg: Registry[type] = Registry("thing")

    @reg.register("a", "the a thing", oracle=True)
    class A:
        pass

    assert reg.get("a") is A
    assert reg.entry("a").meta == {"oracle": True}


def test_double_registration_is_a_bug() -> None:
    reg = make()
    with pytest.raises(ValueError):
        reg.add("entropy", 3, "again")


def test_a_missing_required_option_names_it_and_how_to_give_it() -> None:
    from alpool.errors import ConfigError
    from alpool.selectors import make_selector

    with pytest.raises(ConfigError, match=r"needs option 'score': give --param score=VALUE"):
        make_selector("ranked", {})
