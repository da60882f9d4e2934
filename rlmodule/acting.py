"""Acting: observations -> acting forward -> distribution -> actions, logp, values, state.

:class:`Actor` is the one acting entry point of a module: both env runners (acting and
bootstrap values), the learners' value fill (:func:`rlmodule.learners.values.fill_values`),
``compat.RLModulePolicy`` and the parity harness act through it. Shapes (``B`` rows;
observations and actions nested like their spaces for Dict/Tuple spaces):

- in: ``obs`` ``[B, ...]`` (numpy or tensors); a recurrent module's ``state`` is the
  structure of ``module.get_initial_state()`` with leaves ``[B, ...]``;
- the forward sees ``{"obs": [B, ...]}``; a recurrent module ``{"obs": [B, 1, ...],
  "state_in": state}`` (a time axis of one step), as the specification's recurrent
  contract asks;
- out (:class:`ActingStep`, numpy, the time axis of one step dropped): ``actions``
  ``[B, ...]``, ``logp`` ``[B]`` (0 when not exploring), ``vf_preds`` ``[B]`` or None,
  ``action_dist_inputs`` ``[B, D]`` or None, ``state_out`` (leaves ``[B, ...]``) or None.

A forward may return ``action_dist_inputs`` (the distribution's parameters, the built-in
modules' style), ``action_dist`` (a distribution object: ours or a
``torch.distributions`` one, the early-alpha style) or ``actions`` directly. Exploration
samples and reports the log-likelihood; inference acts deterministically
(``to_deterministic()``) and reports logp = 0, as the legacy ``StochasticSampling`` did.

Values: a forward may return ``vf_preds`` itself (migrated legacy models, wrapped legacy
policies, recurrent PPO modules), or the module leaves them to ``compute_values(batch) ->
[B]`` (``[B, T]`` when recurrent), RLlib 2.60's ``ValueFunctionAPI``; the built-in
feed-forward PPO modules do, so acting can run the actor only.

Mode: torch modules act in eval mode without autograd (``TorchRLModule._enter_acting``,
the switch their own ``forward_exploration`` / ``forward_inference`` use). Each
:meth:`Actor.act` switches it for its forward, sampling and values; ``with
actor.mode():`` (or :func:`acting_mode`) switches it once for a block of calls, in
``torch.inference_mode()``. TensorFlow modules have no mode to switch; their forward and
sampling run as one ``tf.function`` (``TfRLModule._trace_acting``).

Importing this module imports no framework.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from rlmodule.backend import backend
from rlmodule.columns import Columns
from rlmodule.distribution import Distribution
from rlmodule.tree import flatten, map_structure

_OBS, _STATE_IN, _STATE_OUT = Columns.OBS, Columns.STATE_IN, Columns.STATE_OUT
_VF, _DIST_INPUTS = Columns.VF_PREDS, Columns.ACTION_DIST_INPUTS
#: Per-step outputs whose time axis a recurrent forward keeps (dropped for one step).
_PER_STEP = (Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS, Columns.ACTIONS, Columns.ACTION_LOGP)


# --- distributions and sampling -----------------------------------------------------------
def action_dist_class(module: Any, *, explore: bool) -> Any:
    """The module's exploration or inference distribution class."""
    return module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()


def action_dist_from_output(module: Any, output: Mapping[str, Any], *, explore: bool) -> Any:
    """The distribution to act with: ours (``to_deterministic()`` when not exploring), or a
    ``torch.distributions`` object the forward returned."""
    if _DIST_INPUTS in output:
        dist = action_dist_class(module, explore=explore).from_logits(output[_DIST_INPUTS])
        return dist if explore else dist.to_deterministic()
    if Columns.ACTION_DIST in output:
        dist = output[Columns.ACTION_DIST]
        if not explore and isinstance(dist, Distribution):
            return dist.to_deterministic()
        return dist
    raise KeyError(
        f"{type(module).__name__} output has neither {_DIST_INPUTS!r} nor "
        f"{Columns.ACTION_DIST!r} (keys: {sorted(output)})"
    )


def sample_actions(module: Any, output: Mapping[str, Any], *, explore: bool) -> Tuple[Any, Any]:
    """``(actions [B, ...], logp [B])`` from a forward's output, in its framework: sampled
    with their log-likelihood when exploring, else deterministic with logp 0."""
    actions, logp = _sample(module, output, explore)
    if logp is not None:
        return actions, logp
    inputs = output.get(_DIST_INPUTS)
    if inputs is None:
        return actions, _zeros(module, actions, 1)
    return actions, _zeros(module, inputs, len(inputs.shape) - 1)  # [B] ([B, T] when recurrent)


def _sample(module: Any, output: Mapping[str, Any], explore: bool) -> Tuple[Any, Optional[Any]]:
    """:func:`sample_actions` with ``None`` for a logp of zeros (zeros cost a tensor)."""
    if Columns.ACTIONS in output:
        return output[Columns.ACTIONS], output.get(Columns.ACTION_LOGP)
    dist = action_dist_from_output(module, output, explore=explore)
    if explore:
        actions = dist.sample()
        # ours, or a torch.distributions.Distribution (the specification's early examples)
        return actions, dist.logp(actions) if isinstance(dist, Distribution) else dist.log_prob(actions)
    return (dist.sample() if isinstance(dist, Distribution) else dist.mode), None


def _zeros(module: Any, like: Any, batch_dims: int) -> Any:
    """float32 zeros shaped like the first ``batch_dims`` dims of ``like`` (of its first
    leaf, for nested actions): numpy for numpy, else a tensor of the module's backend."""
    leaf = _first_leaf(like)
    zeros = np.zeros(tuple(np.shape(leaf)[:batch_dims]), np.float32)
    if type(leaf) is np.ndarray:
        return zeros
    be = backend(module)
    return be.to_tensor(zeros, be.device_of(module))


# --- values -----------------------------------------------------------------------------------
def has_compute_values(module: Any) -> bool:
    """Whether ``module`` offers ``compute_values(batch)``."""
    return callable(getattr(module, "compute_values", None))


def value_predictions(module: Any, batch: Mapping[str, Any], out: Mapping[str, Any]) -> Optional[Any]:
    """``out["vf_preds"]`` if the forward returned it, else ``module.compute_values(batch)``
    if the module has it, else ``None``. ``batch`` is the forward's input."""
    if _VF in out:
        return out[_VF]
    if has_compute_values(module):
        return module.compute_values(batch)
    return None


# --- mode ---------------------------------------------------------------------------------------
@contextmanager
def acting_mode(module: Any) -> Iterator[None]:
    """The acting mode for a block of calls: torch modules (and a multi-agent module's
    torch sub-modules) in eval mode under ``torch.inference_mode()``, restored after; every
    tensor made in the block must leave it as numpy. TensorFlow modules need nothing."""
    from rlmodule.marl_module import MultiAgentRLModule

    modules = [module, *module.values()] if isinstance(module, MultiAgentRLModule) else [module]
    entered: List[Tuple[Any, Any]] = []
    try:
        for m in modules:
            enter = getattr(m, "_enter_acting", None)
            if enter is not None:
                entered.append((m, enter(inference=True)))
        yield
    finally:
        for m, token in reversed(entered):
            m._exit_acting(token)


# --- the actor ------------------------------------------------------------------------------
class ActingStep:
    """What :meth:`Actor.act` returns: numpy, ``B`` rows, no time axis.

    Attributes:
        actions: ``[B, ...]`` (nested like the action space).
        logp: ``[B]`` log-likelihood of ``actions`` (0 when not exploring).
        vf_preds: ``[B]``, or None when the module produced none.
        action_dist_inputs: ``[B, D]``, or None when the forward returned none.
        state_out: recurrent modules: the next state (leaves ``[B, ...]``), else None.
        out: the forward's output as it returned it (tensors; time axis kept).
    """

    __slots__ = ("actions", "logp", "vf_preds", "action_dist_inputs", "state_out", "out")

    def __init__(self, actions: Any, logp: np.ndarray, vf_preds: Optional[np.ndarray],
                 action_dist_inputs: Optional[np.ndarray], state_out: Any, out: Mapping[str, Any]) -> None:
        self.actions = actions
        self.logp = logp
        self.vf_preds = vf_preds
        self.action_dist_inputs = action_dist_inputs
        self.state_out = state_out
        self.out = out


class Actor:
    """One module's acting entry point (see the module docstring for shapes and mode).

    Args:
        module: a single-agent RLModule (torch or tf2).
        name: how error messages name the module (default: its class name).
        to_numpy: how :meth:`act` turns tensor structures into numpy (default: the
            backend's ``to_numpy``; ``compat.RLModulePolicy`` passes the legacy dtype
            reduction).

    Attributes:
        module: the RLModule.
        framework: ``"torch"`` or ``"tf2"``.
        device: where the module's weights live (``None``: CPU / framework-placed).
        stateful: whether the module is recurrent.
    """

    def __init__(self, module: Any, name: str = "", to_numpy: Optional[Callable[[Any], Any]] = None) -> None:
        try:
            be = backend(module)
        except ValueError:
            raise ValueError(
                f"{type(module).__name__}.framework is {getattr(module, 'framework', None)!r}; "
                "acting supports 'torch' and 'tf2' modules"
            ) from None
        self.module = module
        self.name = name or type(module).__name__
        self.framework: str = be.NAME
        self.device = be.device_of(module)
        self.stateful = bool(module.is_stateful())
        self._to_tensor = be.to_tensor
        self.to_numpy: Callable[[Any], Any] = to_numpy or be.to_numpy
        self._has_compute_values = has_compute_values(module)
        self._enter = getattr(module, "_enter_acting", None)
        self._steps: Dict[bool, Callable[[Any], Tuple[Dict[str, Any], Any, Any]]] = {}

    # --- conversion, batches, mode ----------------------------------------------------------------
    def to_tensor(self, x: Any) -> Any:
        """A numpy structure -> the same structure of tensors on the module's device
        (shared memory for torch on CPU); tensors pass through."""
        return self._to_tensor(x, self.device)

    def initial_state(self) -> Any:
        """``module.get_initial_state()`` as numpy (no batch dim; ``{}`` if not recurrent)."""
        return self.to_numpy(self.module.get_initial_state())

    def batch(self, obs: Any, state: Any = None) -> Dict[str, Any]:
        """The forward's input: ``{"obs": [B, ...]}``; recurrent: ``{"obs": [B, 1, ...],
        "state_in": state}`` (``state`` leaves ``[B, ...]``)."""
        if not self.stateful:
            return {_OBS: self._to_tensor(obs, self.device)}
        obs = obs[:, None] if type(obs) is np.ndarray else map_structure(_add_time_axis, obs)
        return {_OBS: self._to_tensor(obs, self.device), _STATE_IN: self._to_tensor(state, self.device)}

    def mode(self) -> ContextManager[None]:
        """``with actor.mode():`` the acting mode for a block of calls (:func:`acting_mode`)."""
        return acting_mode(self.module)

    # --- acting ---------------------------------------------------------------------------------
    def act(self, obs: Any, state: Any = None, *, explore: bool = True, values: bool = True) -> ActingStep:
        """Forward, sample, values: one :class:`ActingStep`.

        Args:
            obs: ``[B, ...]``.
            state: recurrent modules: the state (leaves ``[B, ...]``).
            explore: ``forward_exploration`` and sampled actions, else ``forward_inference``
                and deterministic actions (logp 0).
            values: when the forward returns no ``vf_preds``, compute them with
                ``compute_values(batch)`` (if the module has it); else ``vf_preds`` come
                from the forward only.
        """
        token = self._enter() if self._enter is not None else None
        try:
            batch = self.batch(obs, state)
            step = self._steps.get(explore)
            if step is None:
                step = self._steps[explore] = self._make_step(explore)
            out, actions, logp = step(batch)
            vf = out.get(_VF)
            if vf is None and values and self._has_compute_values:
                vf = self.module.compute_values(batch)
            to_numpy = self.to_numpy
            actions = to_numpy(actions)
            if logp is None:
                logp = np.zeros(len(_first_leaf(actions)), np.float32)
            else:
                logp = to_numpy(logp)
            vf = None if vf is None else to_numpy(vf)
            dist = out.get(_DIST_INPUTS)
            dist = None if dist is None else to_numpy(dist)
            state_out = None
            if self.stateful:
                actions = _first_step(actions)
                logp = logp[:, 0] if logp.ndim > 1 else logp  # actions outputs may give [B]
                vf = None if vf is None else vf[:, 0]
                dist = None if dist is None else dist[:, 0]
                state_out = to_numpy(self._state_out(out))
        finally:
            if token is not None:
                self.module._exit_acting(token)
        return ActingStep(actions, logp, vf, dist, state_out, out)

    def forward(self, batch: Mapping[str, Any], *, explore: bool = True, values: bool = False) -> Dict[str, Any]:
        """The acting forward on :meth:`batch`'s output: a dict of tensors as the module
        returned it (recurrent: time axis kept), with ``vf_preds`` from
        ``compute_values(batch)`` when ``values`` and the forward returned none."""
        module = self.module
        token = self._enter() if self._enter is not None else None
        try:
            out = dict(module.forward_exploration(batch) if explore else module.forward_inference(batch))
            if values and _VF not in out and self._has_compute_values:
                out[_VF] = module.compute_values(batch)
        finally:
            if token is not None:
                module._exit_acting(token)
        return out

    def values(self, obs: Any, state: Any = None, *, explore: bool = True) -> Optional[np.ndarray]:
        """``[B]`` float32 values of ``obs`` (bootstrap values): the acting forward's
        ``vf_preds``, else (exploring) ``compute_values()``'s; None when there are none."""
        out = self.forward(self.batch(obs, state), explore=explore, values=explore)
        if _VF not in out:
            return None
        v = np.asarray(self.to_numpy(out[_VF]), np.float32)
        return v[:, 0] if self.stateful else v

    def compute_values(self, obs: Any) -> np.ndarray:
        """``[B]`` float32: ``module.compute_values({"obs": obs})`` (feed-forward modules)."""
        token = self._enter() if self._enter is not None else None
        try:
            v = self.module.compute_values({_OBS: self._to_tensor(obs, self.device)})
            return np.asarray(self.to_numpy(v), np.float32).reshape(-1)
        finally:
            if token is not None:
                self.module._exit_acting(token)

    def distribution(self, out: Mapping[str, Any], *, explore: bool = True) -> Any:
        """The distribution to act with for a forward's output (:func:`action_dist_from_output`)."""
        return action_dist_from_output(self.module, out, explore=explore)

    def drop_time_axis(self, out: Mapping[str, Any]) -> Dict[str, Any]:
        """A recurrent forward's output for one step: ``action_dist_inputs``, ``vf_preds``,
        ``actions`` and ``action_logp`` without their time axis (``state_out`` and other
        keys as they are; KeyError if it has no ``state_out``)."""
        self._state_out(out)
        return {k: (map_structure(_first_of_time_axis, v) if k in _PER_STEP else v) for k, v in out.items()}

    # --- internals --------------------------------------------------------------------------------
    def _state_out(self, out: Mapping[str, Any]) -> Any:
        if _STATE_OUT not in out:
            raise KeyError(
                f"{self.name} is stateful but its forward output has no "
                f"{_STATE_OUT!r} (keys: {sorted(out)})"
            )
        return out[_STATE_OUT]

    def _make_step(self, explore: bool) -> Callable[[Any], Tuple[Dict[str, Any], Any, Any]]:
        """``step(batch) -> (forward output, actions, logp or None for zeros)`` (tensors);
        a module may compile it (``TfRLModule._trace_acting``: one ``tf.function``)."""
        module = self.module
        forward = module.forward_exploration if explore else module.forward_inference

        def step(batch: Any) -> Tuple[Dict[str, Any], Any, Optional[Any]]:
            out = forward(batch)
            actions, logp = _sample(module, out, explore)
            return out, actions, logp

        trace = getattr(module, "_trace_acting", None)
        return step if trace is None else trace(step)


def _add_time_axis(x: Any) -> Any:
    return x[:, None]


def _first_of_time_axis(x: Any) -> Any:
    return x[:, 0]


def _first_leaf(x: Any) -> Any:
    return x if type(x) is np.ndarray else flatten(x)[0]


def _first_step(x: Any) -> Any:
    return x[:, 0] if type(x) is np.ndarray else map_structure(_first_of_time_axis, x)
