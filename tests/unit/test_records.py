"""records.fast_init: the same objects as the dataclass's own __init__, and refusal of what it cannot copy."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from linkaudit import catalog, model, repair, storerows, suggest
from linkaudit.check import fetch, verdict
from linkaudit.records import fast_init

FAST = [
    model.SourceRef, model.Paper, model.RawLink, model.Repair, model.Link, model.RepoInfo, model.DoiInfo,
    model.Citation, model.CheckResult, model.HistoryEntry, catalog.PaperSpan, repair.RepairedLink,
    suggest.Suspicion, verdict.Verdict, fetch.Reply, storerows.LinkRow,
]


def _twin(cls: type) -> type:
    """The same dataclass with the generated __init__ (rebuilt from its fields)."""
    fields = [(f.name, f.type, field(default=f.default)) if f.default is not dataclasses.MISSING else (f.name, f.type)
              for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Twin{cls.__name__}", fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__qualname__)
def test_signature_is_the_fields(cls: type) -> None:
    twin = _twin(cls)
    fast = inspect.signature(cls.__init__)
    generated = inspect.signature(twin.__init__)
    assert [(p.name, p.default, p.kind) for p in fast.parameters.values()] == \
           [(p.name, p.default, p.kind) for p in generated.parameters.values()]
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__qualname__)
def test_same_values_as_the_generated_init(cls: type) -> None:
    twin = _twin(cls)
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    values = {name: f"v-{i}" for i, name in enumerate(required)}
    fast, generated = cls(**values), twin(**values)
    for f in dataclasses.fields(cls):
        assert getattr(fast, f.name) == getattr(generated, f.name)
    positional = cls(*values.values())
    assert positional == fast and hash(positional) == hash(fast)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, dataclasses.fields(cls)[0].name, "changed")
    assert pickle.loads(pickle.dumps(fast)) == fast


def test_link_behaves_as_a_frozen_dataclass() -> None:
    source = model.SourceRef("a.md", 3)
    link = model.Link(url="https://x.org/", original="x.org", kind=model.Kind.WEB, key=model.LinkKey("web:x.org"),
                      paper_id="1", source=source)
    assert link.confidence is model.Confidence.HIGH and link.repairs == () and link.notes == ()
    moved = dataclasses.replace(link, confidence=model.Confidence.LOW)
    assert moved.confidence is model.Confidence.LOW and moved.url == link.url and moved != link
    assert repr(link).startswith("Link(url='https://x.org/', original='x.org'")
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'source'"):
        model.Link("u", "o", model.Kind.WEB, model.LinkKey("k"), "1")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        model.SourceRef(path="a.md", line=1, colour="red")  # type: ignore[call-arg]


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: tuple[int, ...] = field(default_factory=tuple)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int = field(default=0, init=False)

    for cls in (NoSlots, NotFrozen, PostInit, Factory, KeywordOnly, NotInInit, int):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)
