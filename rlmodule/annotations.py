"""No-op API annotations, spelled as RLlib spells them, so ported code keeps its decorators."""

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable)


def override(parent_cls: type) -> Callable[[F], F]:
    """Mark a method as overriding one of ``parent_cls``; raises if the parent lacks it."""

    def decorator(method: F) -> F:
        if not hasattr(parent_cls, method.__name__):
            raise NameError(
                f"@override({parent_cls.__name__}): {method.__name__!r} is not a "
                f"method of {parent_cls.__name__}"
            )
        return method

    return decorator


def _marker(obj: Any = None, **_options: Any) -> Any:
    """A no-op decorator usable bare (``@PublicAPI``) or called (``@PublicAPI(stability="alpha")``)."""
    if obj is None:
        return lambda target: target
    return obj


PublicAPI = DeveloperAPI = ExperimentalAPI = OldAPIStack = _marker
OverrideToImplementCustomLogic = OverrideToImplementCustomLogic_CallToSuperRecommended = _marker
