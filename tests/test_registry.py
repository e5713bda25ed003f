"""The generic registry: registration, lookup, did-you-mean."""

from __future__ import annotations

import pytest

from alpool.core.errors import AlpoolError, UnknownNameError
from alpool.core.registry import Registry


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
    from alpool.core.errors import ConfigError
    from alpool.selectors import SELECTORS

    with pytest.raises(ConfigError, match=r"needs option 'score': give --param score=VALUE"):
        SELECTORS.create("ranked", {})


def test_a_declared_entry_is_listed_without_import_and_bound_on_get() -> None:
    import sys

    reg: Registry[type] = Registry("thing")
    reg.declare("frac", "fractions", "a declared entry", oracle=True)
    sys.modules.pop("fractions", None)
    assert reg.names(oracle=True) == ["frac"] and reg.entry("frac").description == "a declared entry"
    assert "fractions" not in sys.modules
    with pytest.raises(RuntimeError, match="fractions does not register thing 'frac'"):
        reg.get("frac")  # the module was imported, but it does not bind the name
    reg.add("frac", int)
    assert reg.get("frac") is int and reg.undeclared() == []


def test_a_declared_entry_takes_its_description_once() -> None:
    reg: Registry[type] = Registry("thing")
    reg.declare("a", "fractions", "declared")
    with pytest.raises(ValueError, match="declared, not repeated"):
        reg.add("a", int, "again")
    with pytest.raises(ValueError, match="not declared"):
        reg.add("b", int)


@pytest.mark.parametrize("kind", ["datasets", "tasks", "scorers", "selectors", "models", "frameworks"])
def test_every_package_entry_is_declared_and_imports(kind: str) -> None:
    """Registries import their members explicitly: every declared module loads and binds its name,
    and no module registers a name that is not declared (it would be missing from --help)."""
    import importlib
    import pkgutil

    from alpool.cli.list_cmd import registries

    registry = registries()[kind]
    registry.load_all()
    package = importlib.import_module(next(iter(registry.entries())).module.rsplit(".", 1)[0])  # type: ignore[union-attr]
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    assert registry.undeclared() == [], (
        f"declare {registry.undeclared()} in {package.__name__.replace('.', '/')}/__init__.py "
        "(name, module, description) and register them with @REG.register(name) only")


def test_declared_metadata_matches_the_classes() -> None:
    from alpool.pretext import TASKS
    from alpool.selectors import SELECTORS
    from alpool.selectors.base import NEED_CLASSIFIER

    for entry in SELECTORS.entries():
        assert entry.meta.get("oracle", False) == entry.obj.oracle, entry.name
        assert entry.meta.get("query", False) == (NEED_CLASSIFIER in entry.obj.needs), entry.name
    for entry in TASKS.entries():
        assert entry.meta.get("oracle", False) == entry.obj.oracle, entry.name


def test_create_builds_with_validated_options() -> None:
    from alpool.core.errors import ConfigError
    from alpool.selectors import SELECTORS
    from alpool.selectors.ranked import RankedParams

    selector = SELECTORS.create("ranked", {"score": "vae-loss"})
    assert isinstance(selector.params, RankedParams) and selector.params.score == "vae-loss"
    with pytest.raises(ConfigError, match=r"selector 'ranked' has no option 'scor' \(its options: score"):
        SELECTORS.create("ranked", {"score": "vae-loss", "scor": "x"})
