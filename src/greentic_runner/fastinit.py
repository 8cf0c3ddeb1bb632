"""A faster ``__init__`` for the frozen, slotted dataclasses built on every turn.

A frozen dataclass's generated ``__init__`` stores each field with
``object.__setattr__(self, name, value)``: a global lookup, a bound-method object and the
generic attribute machinery per field. For a 13-field :class:`~greentic_runner.activity.Activity`
that is most of the cost of a reply. :func:`fast_frozen_init` swaps in an ``__init__`` with
the same signature that stores through the slots' own descriptors instead (about three times
faster); the instances are the same frozen objects (assigning a field afterwards still raises
``FrozenInstanceError``).

Only plain fields are supported: every field in ``__init__``, not keyword-only, no
``__post_init__``; anything else is refused when the class is decorated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_FACTORY = object()  # the default of a field with a default_factory, as in dataclasses


def fast_frozen_init(cls: type[T]) -> type[T]:
    """Replace the dataclass ``cls``'s ``__init__`` (apply above ``@dataclass``)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: fast_frozen_init needs a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: fast_frozen_init does not run __post_init__")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    args, body = [], []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.name
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__name__}.{name}: only plain init fields are supported")
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        value = name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            args.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            args.append(f"{name}=_FACTORY")
            value = f"_factory_{name}() if {name} is _FACTORY else {name}"
        else:
            args.append(name)
        body.append(f"    _set_{name}(self, {value})")
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
