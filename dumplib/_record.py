"""Frozen, slotted dataclasses made cheaply at import time (issue #16).

``dataclasses.dataclass`` compiles six methods per class with ``exec`` (about
0.7 ms a class on Python 3.11) and importing :mod:`dataclasses` loads
:mod:`inspect` (about 10 ms). The records read by every command -- the format
layer's 30 records and the model's Module, System and MemoryRegion -- would
cost 30-40 ms of a 12 ms interpreter start. Modules on that path write::

    if TYPE_CHECKING:
        from dataclasses import dataclass, field
    else:
        from dumplib._record import dataclass, field

so mypy and readers see ordinary ``@dataclass(frozen=True, slots=True)``
declarations, and at run time :func:`dataclass` builds the same class:
``__slots__``, ``__init__`` (generic for a class's first 16 instances, then
compiled once, so classes a run makes rarely cost no compile), ``__repr__``, ``__eq__`` and
``__hash__`` over the same fields, ``__match_args__``, the frozen
``__setattr__``/``__delattr__`` raising ``dataclasses.FrozenInstanceError``,
pickling, and ``__dataclass_fields__``/``__dataclass_params__`` made on first
access by the standard :func:`dataclasses.dataclass` itself, so
``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` work.
``tests/test_record.py`` checks each such class against the standard one.

Only what those classes use is supported: ``frozen=True`` (with or without
``slots``) and ``field(default=..., repr=..., compare=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

__all__ = ["dataclass", "field"]

_MISSING = object()

#: Instances a class makes with the generic ``__init__`` before compiling its own:
#: a command that makes a handful of records never pays the compile (~0.1 ms a class).
_GENERIC_CALLS = 16


class _Field:
    """What :func:`field` returns inside a class body."""

    __slots__ = ("compare", "default", "repr")

    def __init__(self, default: object, repr: bool, compare: bool) -> None:
        self.default = default
        self.repr = repr
        self.compare = compare


def field(*, default: object = _MISSING, repr: bool = True,
          compare: bool = True) -> object:
    """``dataclasses.field`` for the options the light records use."""
    return _Field(default, repr, compare)


class _Metadata:
    """``__dataclass_fields__`` / ``__dataclass_params__``: made on first access by
    the standard dataclass decorator applied to a copy of the class's declaration."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: object, owner: type) -> object:
        import dataclasses

        spec = owner.__dict__["_record_spec"]
        body: dict[str, object] = {"__annotations__": dict(spec.annotations),
                                   "__module__": owner.__module__}
        for name, f in spec.declared.items():
            body[name] = dataclasses.field(default=f.default if f.default is not _MISSING
                                           else dataclasses.MISSING,
                                           repr=f.repr, compare=f.compare)
        shadow: type = dataclasses.dataclass(frozen=True)(type(owner.__name__, (), body))
        owner_set = type.__setattr__
        for attr in ("__dataclass_fields__", "__dataclass_params__"):
            owner_set(owner, attr, getattr(shadow, attr))
        return owner.__dict__[self.attr]


class _Spec:
    """A light record class's field list."""

    __slots__ = ("annotations", "compare", "declared", "defaults", "names", "reprs")

    def __init__(self, annotations: dict[str, object], declared: dict[str, _Field]) -> None:
        self.annotations = annotations
        self.declared = declared
        self.names = tuple(annotations)
        self.defaults = {n: f.default for n, f in declared.items() if f.default is not _MISSING}
        self.reprs = tuple(n for n in self.names if n not in declared or declared[n].repr)
        self.compare = tuple(n for n in self.names if n not in declared or declared[n].compare)


def _tuple_getter(names: tuple[str, ...]) -> object:
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def _make_init(cls: type, spec: _Spec) -> object:
    """The dataclass ``__init__`` of ``cls``: positional-or-keyword parameters in field
    order, defaults from the declaration, each stored through ``object.__setattr__``."""
    params = []
    glb: dict[str, object] = {"__builtins__": __builtins__, "_set": object.__setattr__}
    for name in spec.names:
        if name in spec.defaults:
            glb[f"_dflt_{name}"] = spec.defaults[name]
            params.append(f"{name}=_dflt_{name}")
        else:
            params.append(name)
    body = "".join(f"\n    _set(self, {n!r}, {n})" for n in spec.names) or "\n    pass"
    src = f"def __init__(self, {', '.join(params)}):{body}\n"
    ns: dict[str, object] = {}
    exec(compile(src, f"<record {cls.__qualname__}.__init__>", "exec"), glb, ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    return init


def _build(cls: type, slots: bool) -> type:
    annotations: dict[str, object] = dict(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (no inspect)
    for name, ann in annotations.items():
        if isinstance(ann, str) and ann.startswith(("ClassVar", "InitVar", "typing.ClassVar")):
            raise TypeError(f"{cls.__qualname__}.{name}: ClassVar/InitVar are not supported")
    for base in cls.__mro__[1:-1]:
        if "_record_spec" in base.__dict__ or "__dataclass_fields__" in base.__dict__:
            raise TypeError(f"{cls.__qualname__}: inheriting dataclass fields is not supported")
    declared: dict[str, _Field] = {}
    for name in annotations:
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            declared[name] = value
        elif value is not _MISSING:
            declared[name] = _Field(value, True, True)
    spec = _Spec(annotations, declared)
    names = spec.names

    body = dict(cls.__dict__)
    for name in names:
        body.pop(name, None)
    if slots:
        body.pop("__dict__", None)
        body.pop("__weakref__", None)
        body["__slots__"] = names
    qualname = cls.__qualname__

    defaults = spec.defaults
    calls = [0]

    def _values(args: tuple[object, ...], kwargs: dict[str, object]) -> Sequence[object] | None:
        """The field values of a well-formed call, else None (the compiled ``__init__``
        then raises the standard error)."""
        if not kwargs and len(args) == len(names):
            return args
        if len(args) > len(names):
            return None
        values = list(args)
        used = 0
        for n in names[len(args):]:
            if n in kwargs:
                values.append(kwargs[n])
                used += 1
            elif n in defaults:
                values.append(defaults[n])
            else:
                return None
        return values if used == len(kwargs) else None

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        # The first few instances are set field by field; a class made more often
        # (or called wrongly) compiles the dataclass __init__ once and uses it.
        if calls[0] < _GENERIC_CALLS:
            calls[0] += 1
            values = _values(args, kwargs)
            if values is not None:
                for n, v in zip(names, values, strict=True):
                    object.__setattr__(self, n, v)
                return
        real = _make_init(new, spec)
        type.__setattr__(new, "__init__", real)
        real(self, *args, **kwargs)  # type: ignore[operator]

    reprs = tuple((f"{n}=", attrgetter(n)) for n in spec.reprs)

    def __repr__(self: object) -> str:
        inner = ", ".join(label + repr(get(self)) for label, get in reprs)
        return f"{self.__class__.__qualname__}({inner})"

    key = _tuple_getter(spec.compare)

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(key(self) == key(other))  # type: ignore[operator]
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(key(self))  # type: ignore[operator]

    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is new or name in names:
            import dataclasses

            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(new, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: object, name: str) -> None:
        if type(self) is new or name in names:
            import dataclasses

            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(new, self).__delattr__(name)  # type: ignore[arg-type]

    def __getstate__(self: object) -> list[object]:
        return [getattr(self, n) for n in names]

    def __setstate__(self: object, state: list[object]) -> None:
        for n, value in zip(names, state, strict=False):
            object.__setattr__(self, n, value)

    methods = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__,
               "__hash__": __hash__, "__setattr__": __setattr__, "__delattr__": __delattr__}
    if slots:
        methods["__getstate__"] = __getstate__
        methods["__setstate__"] = __setstate__
    for mname, fn in methods.items():
        if mname in body and mname not in ("__setattr__", "__delattr__"):
            if mname in ("__repr__", "__init__", "__getstate__", "__setstate__"):
                continue  # the class's own wins, as with dataclasses (repr/init)
            if mname in ("__eq__", "__hash__"):
                raise TypeError(f"{qualname}: a hand-written {mname} is not supported")
        elif mname in body:
            raise TypeError(f"{qualname}: cannot override {mname} in a frozen record")
        fn.__qualname__ = f"{qualname}.{mname}"
        body[mname] = fn
    body["__match_args__"] = names
    body["_record_spec"] = spec
    body["__dataclass_fields__"] = _Metadata("__dataclass_fields__")
    body["__dataclass_params__"] = _Metadata("__dataclass_params__")
    new: type = type(cls)(cls.__name__, cls.__bases__, body)
    new.__qualname__ = qualname
    return new


def dataclass(*, frozen: bool, slots: bool = False) -> object:
    """``dataclasses.dataclass(frozen=True, slots=...)``, without its import-time cost."""
    if not frozen:
        raise TypeError("dumplib._record makes frozen records only")

    def wrap(cls: type) -> type:
        return _build(cls, slots)

    return wrap
