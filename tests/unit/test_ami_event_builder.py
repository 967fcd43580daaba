"""The tracker's builders of domain events make the very objects the dataclasses make."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from contact_center.ami.tracking.core import BASE_FIELDS, NEW, event_builder
from contact_center.calls import events as ev

EVENT_CLASSES = sorted(
    (
        cls
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, ev.DomainEvent) and cls is not ev.DomainEvent
    ),
    key=lambda cls: cls.__name__,
)


def sample(field: dataclasses.Field[Any], index: int) -> Any:
    """A value of the field's type that is not its default."""
    kind = str(field.type)
    if "dict" in kind:
        return {"KIND": f"v{index}"}
    if "list" in kind or "tuple" in kind:
        return [f"v{index}"]
    if "bool" in kind:
        return True
    if "float" in kind:
        return index + 0.5
    if "int" in kind:
        return index + 1
    return f"v{index}"


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_a_builder_makes_what_the_dataclass_makes(cls: type[ev.DomainEvent]) -> None:
    build = getattr(NEW, cls.__name__)
    base = ("pbx1", "c1", 1.25, 7, "k", "l1")
    fields = [f for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS]
    required = {
        f.name: sample(f, i)
        for i, f in enumerate(fields)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    everything = {f.name: sample(f, i) for i, f in enumerate(fields)}
    for given in (required, everything):
        built = build(base, **given)
        made = cls(**dict(zip(BASE_FIELDS, base, strict=True)), **given)
        assert type(built) is cls
        assert built == made
        assert ev.to_dict(built) == ev.to_dict(made)
        for f in dataclasses.fields(cls):  # each field set, defaults included
            assert getattr(built, f.name) == getattr(made, f.name)
    # a default factory gives each event its own value, as the dataclass does
    first, second = build(base, **required), build(base, **required)
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(first, f.name) is not getattr(second, f.name)
    with pytest.raises(TypeError):
        build(base, **required, not_a_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.server = "x"  # type: ignore[misc]


def test_every_event_type_has_a_builder() -> None:
    assert EVENT_CLASSES
    for cls in EVENT_CLASSES:
        assert getattr(NEW, cls.__name__).__name__ == f"new_{cls.__name__}"
    with pytest.raises(AttributeError):
        NEW.NotAnEvent  # noqa: B018


def test_a_builder_refuses_what_it_would_not_copy() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Later(ev.DomainEvent):
        value: str = ""

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="more than set its fields"):
        event_builder(Later)
