"""MultiAgentEnvRunner: steps multi-agent env copies with a MultiAgentRLModule.

Environments are RLlib-style multi-agent envs (``reset() -> (obs, infos)``,
``step(action_dict) -> obs, rewards, terminateds, truncateds, infos`` dicts keyed by
agent id, the flags with an ``"__all__"`` entry; see
:class:`rlmodule.envs.MultiAgentCartPole`) or PettingZoo ``ParallelEnv`` s, which
:class:`ParallelEnvAdapter` turns into the former (detected by duck typing, so
PettingZoo need not be installed).

Per step, the agents that received an observation act: their observations are
grouped by module id (``config.policy_mapping_fn(agent_id, episode)``, called once
per agent and episode; default: every agent -> ``DEFAULT_MODULE_ID``) into one
batched forward per module. Rewards an agent receives are added to its last step.

Observations (per module batch: one ``np.isfinite(...).all()`` per float leaf and a
shape comparison against the agent's ``env.observation_spaces[agent_id]``, where the
env declares one), the final observations of truncated agents and rewards are checked;
a None, NaN / inf, wrong-shape or wrong-structure one raises
:class:`~rlmodule.env_runners.env_checks.EnvDataError` naming the env, its copy index,
the agent, the module, the step and the key.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import gymnasium as gym
import numpy as np

from rlmodule.acting import Actor, acting_mode
from rlmodule.callbacks import Callbacks, Episode, MetricsLogger
from rlmodule.env_runners.action_clipping import make_action_clipper
from rlmodule.env_runners.env_checks import (
    BATCHING_ERRORS,
    EnvDataError,
    batch_fits,
    env_name,
    observation_problem,
    reward_problem,
)
from rlmodule.env_runners.episode_metrics import EpisodeMetrics
from rlmodule.env_runners.fragment import Fragment
from rlmodule.env_runners.runner_config import (
    config_num_envs,
    config_rollout_fragment_length,
    config_smoothing_window,
    env_seed,
)
from rlmodule.envs.multi_agent_env import MultiAgentEnv, check_reset_result, check_step_result
from rlmodule.marl_module import MultiAgentRLModule
from rlmodule.rl_module import DEFAULT_MODULE_ID, ModuleID, RLModule
from rlmodule.tree import flatten, index, stack, unflatten

ALL = "__all__"


# --- PettingZoo ------------------------------------------------------------------------
def is_parallel_env(env: Any) -> bool:
    """True for a PettingZoo ``ParallelEnv`` (duck-typed: ``possible_agents`` and the
    methods ``observation_space(agent)`` / ``action_space(agent)``)."""
    obs_space = getattr(env, "observation_space", None)
    act_space = getattr(env, "action_space", None)
    return (
        hasattr(env, "possible_agents")
        and callable(obs_space)
        and callable(act_space)
        and not isinstance(obs_space, gym.Space)
    )


class ParallelEnvAdapter:
    """A PettingZoo ``ParallelEnv`` behind the RLlib multi-agent env API.

    ``step`` adds ``"__all__"`` to the flags: true once no agent is left
    (``env.agents`` empty); ``terminateds["__all__"]`` if every agent that stepped
    last terminated, else ``truncateds["__all__"]``. Attributes: ``env``,
    ``possible_agents``, ``observation_spaces`` / ``action_spaces`` (per agent), and
    ``observation_space`` / ``action_space`` (the first agent's).
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.possible_agents = list(env.possible_agents)
        self.observation_spaces = {a: env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: env.action_space(a) for a in self.possible_agents}
        first = self.possible_agents[0]
        self.observation_space = self.observation_spaces[first]
        self.action_space = self.action_spaces[first]

    @property
    def agents(self) -> List[Any]:
        return list(self.env.agents)

    def get_agent_ids(self) -> set:
        return set(self.possible_agents)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[dict, dict]:
        result = self.env.reset(seed=seed, options=options)
        if isinstance(result, tuple) and len(result) == 2:
            obs, infos = result
        else:  # pettingzoo < 1.24 returned only the observations
            obs, infos = result, {}
        return dict(obs), dict(infos or {})

    def step(self, action_dict: Dict[Any, Any]):
        obs, rewards, terminateds, truncateds, infos = self.env.step(action_dict)
        terminateds, truncateds = dict(terminateds), dict(truncateds)
        agents = getattr(self.env, "agents", None)
        if agents is not None:
            all_done = len(agents) == 0
        else:
            all_done = all(terminateds.get(a, False) or truncateds.get(a, False) for a in action_dict)
        terminateds[ALL] = all_done and all(terminateds.get(a, False) for a in action_dict)
        truncateds[ALL] = all_done and not terminateds[ALL]
        return dict(obs), dict(rewards), terminateds, truncateds, dict(infos)

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


class _SubEnvironments:
    """The env copies as RLlib's legacy ``BaseEnv`` showed them to callbacks."""

    def __init__(self, envs: List[Any]) -> None:
        self.envs = envs

    def get_sub_environments(self) -> List[Any]:
        return self.envs


def _space_of(getter: Callable[[Any], Any], agent_id: Any) -> Optional[gym.Space]:
    """``getter(agent_id)`` if it is a gym Space (None for an agent the env has no space for)."""
    try:
        space = getter(agent_id)
    except (KeyError, IndexError):
        return None
    return space if isinstance(space, gym.Space) else None


# --- per-agent and per-episode bookkeeping ------------------------------------------------
_NO_OBS = object()


class _AgentTrack:
    """One agent's steps in one episode that have not been handed out yet.

    Lists hold one entry per step: ``obs`` (numpy structure), ``actions``, ``logp``,
    ``dist`` (``[D]`` or None), ``vf``, ``rewards`` (accumulated until the agent's
    next step), ``state_in`` (flat leaf list, recurrent modules only).
    """

    __slots__ = (
        "agent_id", "module_id", "env_index", "episode_id", "obs", "actions", "logp",
        "dist", "vf", "rewards", "state_in", "pending_obs", "state",
    )

    def __init__(self, agent_id: Any, module_id: ModuleID, env_index: int, episode_id: int) -> None:
        self.agent_id = agent_id
        self.module_id = module_id
        self.env_index = env_index
        self.episode_id = episode_id
        self.pending_obs: Any = _NO_OBS  # the observation the agent acts on next
        self.state: Optional[List[np.ndarray]] = None  # recurrent state, flat leaves
        self.clear()

    def clear(self, keep_last: bool = False) -> None:
        """Forget the handed-out steps (all, or all but the last one)."""
        k = -1 if keep_last else None
        if k is None:
            self.obs, self.actions, self.logp, self.dist, self.vf, self.rewards, self.state_in = (
                [], [], [], [], [], [], []
            )
        else:
            for name in ("obs", "actions", "logp", "dist", "vf", "rewards", "state_in"):
                setattr(self, name, getattr(self, name)[k:])

    def __len__(self) -> int:
        return len(self.rewards)


class _Episode:
    """One multi-agent episode in one env copy."""

    def __init__(self, episode_id: int, env_index: int) -> None:
        self.id = episode_id
        self.env_index = env_index
        self.length = 0
        self.tracks: Dict[Any, _AgentTrack] = {}
        self.agent_returns: Dict[Any, float] = {}
        self.agent_module: Dict[Any, ModuleID] = {}
        self.callbacks_episode: Optional[Episode] = None  # with callbacks: what the hooks see


# (fragment without bootstrap value, module id, obs or None, state leaves or None, fallback)
_Bootstrap = Tuple[int, ModuleID, Any, Optional[List[np.ndarray]], float]


class MultiAgentEnvRunner:
    """Collects per-agent :class:`Fragment` s from ``config.num_envs_per_env_runner``
    copies of ``config.make_env()`` (a multi-agent env or a PettingZoo ParallelEnv).

    Args:
        config: an AlgorithmConfig (read: ``make_env()``, ``get_rl_module_spec(env)``,
            ``policy_mapping_fn``, ``num_envs_per_env_runner`` (8),
            ``rollout_fragment_length`` (64 or ``"auto"``),
            ``metrics_num_episodes_for_smoothing`` (100), ``seed`` (None)).
        module: a MultiAgentRLModule (a single RLModule is used as
            ``module.as_multi_agent()``); built from the config's spec if ``None``.
        worker_index: this runner's index (env copy ``i`` is first reset with seed
            ``config.seed + 1000 * worker_index + i``).

    Envs: any :class:`~rlmodule.envs.MultiAgentEnv` (per-agent spaces through its
    ``get_observation_space`` / ``get_action_space``), an env with the same methods and
    ``observation_spaces`` dicts, or a PettingZoo ``ParallelEnv``. An env of the
    ray <= 2.2 API (4-tuple ``step``, obs-only ``reset``) raises a TypeError saying how
    to convert it. With ``config.callbacks_class`` set, episodes are recorded for the
    episode hooks (``env`` is the env copy, ``base_env.get_sub_environments()`` the
    copies).
    """

    def __init__(self, config: Any, module: Optional[RLModule] = None, worker_index: int = 0) -> None:
        self.config = config
        self.worker_index = worker_index
        self.num_envs = config_num_envs(config)
        self.rollout_fragment_length = config_rollout_fragment_length(config, self.num_envs)
        self.envs = [self._wrap(config.make_env()) for _ in range(self.num_envs)]
        if module is None:
            module = config.get_rl_module_spec(self.envs[0]).build()
        if not isinstance(module, MultiAgentRLModule):
            module = module.as_multi_agent()
        self.module: MultiAgentRLModule = module
        self._mapping_fn: Optional[Callable] = (
            config.get_policy_mapping_fn(worker=self) if getattr(config, "policy_mapping_fn", None) else None
        )
        self._callbacks = Callbacks.make(config)
        self.metrics_logger = MetricsLogger()
        self._base_env = _SubEnvironments(self.envs)
        self._metrics = EpisodeMetrics(
            config_smoothing_window(config), multi_agent=True, custom=self._callbacks is not None
        )
        self._actors: Dict[ModuleID, Actor] = {}
        self._initial_state: Dict[ModuleID, Tuple[Any, List[np.ndarray]]] = {}
        self._clippers: Dict[Any, Optional[Callable]] = {}
        self._obs_spaces: Dict[Any, Optional[gym.Space]] = {}
        self._episodes: Optional[List[_Episode]] = None
        self._actions: List[Dict[Any, Any]] = []  # per env copy, filled by _act()
        self._next_episode_id = worker_index << 32

    @staticmethod
    def _wrap(env: Any) -> Any:
        return ParallelEnvAdapter(env) if is_parallel_env(env) else env

    # --- public API -----------------------------------------------------------------
    def sample(self, num_timesteps: Optional[int] = None, explore: bool = True) -> List[Fragment]:
        """Step every env copy until at least ``num_timesteps`` env steps (summed over
        copies; default ``rollout_fragment_length * num_envs``) are collected; return
        the per-agent fragments.

        A fragment ends with the agent's episode or at the end of the call. An agent
        that acted last and has no new observation yet (turn-based envs) keeps that
        step for the next call, so its reward is complete; the fragment before it
        bootstraps from that step's ``vf_preds``.
        """
        target = self.rollout_fragment_length * self.num_envs if num_timesteps is None else num_timesteps
        if target < 1:
            raise ValueError(f"sample(num_timesteps={num_timesteps}): must be >= 1")
        if self._episodes is None:
            self._episodes = [self._reset(i, first=True) for i in range(self.num_envs)]
        fragments: List[Fragment] = []
        bootstraps: List[_Bootstrap] = []
        env_steps = agent_steps = 0
        with acting_mode(self.module):
            while env_steps < target:
                agent_steps += self._act(explore)
                for e in range(self.num_envs):
                    self._step_env(e, fragments, bootstraps)
                env_steps += self.num_envs
            self._cut(fragments, bootstraps)
            self._fill_bootstrap_values(fragments, bootstraps, explore)
        self._metrics.add_steps(env_steps, agent_steps)
        if self._callbacks is not None:
            self._callbacks.on_sample_end(
                env_runner=self, worker=self, metrics_logger=self.metrics_logger, samples=fragments
            )
        return fragments

    def get_metrics(self) -> Dict[str, Any]:
        """As :meth:`SingleAgentEnvRunner.get_metrics` (episode return = sum over agents,
        length = env steps), plus ``agent_episode_returns_mean`` ``{agent_id: mean}``,
        ``module_episode_returns_mean`` ``{module_id: mean}`` (per episode, the sum over
        the agents mapped to the module) and ``num_agent_steps_sampled(_lifetime)``."""
        metrics = self._metrics.reduce()
        metrics.update(self.metrics_logger.reduce())
        return metrics

    def get_weights(self) -> Dict[ModuleID, Any]:
        """``{module_id: weights}``."""
        return self.module.get_state()

    def set_weights(self, state: Dict[ModuleID, Any]) -> None:
        self.module.set_state(state)

    def get_state(self) -> Dict[str, Any]:
        """Episode statistics and counters (JSON scalars and numpy arrays). Unlike the
        single-agent runner's, no env or episode state: multi-agent envs keep theirs in
        objects that cannot be saved generically, so a restored runner starts new
        episodes (its first reset seeded as usual)."""
        return {"metrics": self._metrics.get_state(), "next_episode_id": int(self._next_episode_id)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._metrics.set_state(state["metrics"])
        self._next_episode_id = max(self._next_episode_id, int(state["next_episode_id"]))

    def stop(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()

    # --- episodes -----------------------------------------------------------------------
    def _reset(self, env_index: int, first: bool = False) -> _Episode:
        seed = env_seed(self.config, self.worker_index, env_index) if first else None
        env = self.envs[env_index]
        obs, infos = check_reset_result(env, env.reset(seed=seed))
        self._next_episode_id += 1
        episode = _Episode(self._next_episode_id, env_index)
        for agent_id, agent_obs in obs.items():
            self._track(episode, agent_id).pending_obs = agent_obs
        if self._callbacks is not None:
            episode.callbacks_episode = Episode(episode.id, env_index, multi_agent=True, agent_module=episode.agent_module)
            episode.callbacks_episode.add_reset(obs, infos)
            self._callbacks.on_episode_start(**self._hook_kwargs(episode))
        return episode

    def _hook_kwargs(self, episode: _Episode) -> Dict[str, Any]:
        """The episode hooks' keyword arguments (RLlib 2.60's names and the legacy ones)."""
        return dict(
            episode=episode.callbacks_episode, env_runner=self, worker=self, metrics_logger=self.metrics_logger,
            env=self.envs[episode.env_index], base_env=self._base_env, env_index=episode.env_index,
            rl_module=self.module, policies=dict(self.module.items()),
        )

    def _module_id(self, episode: _Episode, agent_id: Any) -> ModuleID:
        module_id = episode.agent_module.get(agent_id)
        if module_id is None:
            module_id = self._mapping_fn(agent_id, episode) if self._mapping_fn else DEFAULT_MODULE_ID
            if module_id not in self.module:
                raise KeyError(
                    f"policy_mapping_fn mapped agent {agent_id!r} to module {module_id!r}, which "
                    f"is not one of {sorted(self.module.keys())}"
                )
            episode.agent_module[agent_id] = module_id
        return module_id

    def _track(self, episode: _Episode, agent_id: Any) -> _AgentTrack:
        track = episode.tracks.get(agent_id)
        if track is None:
            module_id = self._module_id(episode, agent_id)
            track = _AgentTrack(agent_id, module_id, episode.env_index, episode.id)
            if self.module[module_id].is_stateful():
                track.state = [x.copy() for x in self._initial(module_id)[1]]
            episode.tracks[agent_id] = track
            episode.agent_returns.setdefault(agent_id, 0.0)
        return track

    def _actor(self, module_id: ModuleID) -> Actor:
        actor = self._actors.get(module_id)
        if actor is None:
            actor = self._actors[module_id] = Actor(self.module[module_id], f"module {module_id!r}")
        return actor

    def _initial(self, module_id: ModuleID) -> Tuple[Any, List[np.ndarray]]:
        """``(template, flat leaves)`` of the module's initial state (no batch dim)."""
        if module_id not in self._initial_state:
            initial = self._actor(module_id).initial_state()
            self._initial_state[module_id] = (initial, [np.asarray(x) for x in flatten(initial)])
        return self._initial_state[module_id]

    def _clipper(self, env: Any, agent_id: Any) -> Optional[Callable]:
        if agent_id not in self._clippers:
            if isinstance(env, MultiAgentEnv):
                space = _space_of(env.get_action_space, agent_id)
            else:
                spaces = getattr(env, "action_spaces", None) or {}
                space = spaces.get(agent_id, getattr(env, "action_space", None))
            self._clippers[agent_id] = make_action_clipper(space) if isinstance(space, gym.Space) else None
        return self._clippers[agent_id]

    def _observation_space(self, agent_id: Any) -> Optional[gym.Space]:
        """``env.observation_spaces[agent_id]`` (the first copy's), or None if the env
        declares none."""
        if agent_id not in self._obs_spaces:
            env = self.envs[0]
            if isinstance(env, MultiAgentEnv):
                space = _space_of(env.get_observation_space, agent_id)
            else:
                spaces = getattr(env, "observation_spaces", None)
                space = spaces.get(agent_id) if isinstance(spaces, Mapping) else None
            self._obs_spaces[agent_id] = space if isinstance(space, gym.Space) else None
        return self._obs_spaces[agent_id]

    # --- acting ---------------------------------------------------------------------------
    def _state(self, module_id: ModuleID, leaves: Optional[List[np.ndarray]]) -> Any:
        """Flat state leaves ``[B, ...]`` -> the module's state structure (None stays None)."""
        return None if leaves is None else unflatten(self._initial(module_id)[0], leaves)

    def _act(self, explore: bool) -> int:
        """One batched forward per module over the agents with a pending observation;
        records their steps and stores their actions in ``self._actions``. Returns the
        number of agents that acted."""
        groups: Dict[ModuleID, List[_AgentTrack]] = {}
        for episode in self._episodes:
            for track in episode.tracks.values():
                if track.pending_obs is not _NO_OBS:
                    groups.setdefault(track.module_id, []).append(track)
        self._actions = [{} for _ in range(self.num_envs)]
        acted = 0
        for module_id, tracks in groups.items():
            stateful = tracks[0].state is not None
            obs = self._stack_observations(tracks)
            state = [np.stack(x) for x in zip(*[tr.state for tr in tracks])] if stateful else None
            step = self._actor(module_id).act(obs, self._state(module_id, state), explore=explore, values=explore)
            actions, logp = step.actions, np.asarray(step.logp, np.float32)
            vf = np.zeros(len(tracks), np.float32) if step.vf_preds is None else np.asarray(step.vf_preds, np.float32)
            dist = None if step.action_dist_inputs is None else np.asarray(step.action_dist_inputs, np.float32)
            state_out = [np.asarray(x) for x in flatten(step.state_out)] if stateful else None
            for j, tr in enumerate(tracks):
                action = index(actions, j)
                tr.obs.append(index(obs, j))
                tr.actions.append(action)
                tr.logp.append(logp[j])
                tr.vf.append(vf[j])
                tr.dist.append(None if dist is None else dist[j])
                tr.rewards.append(0.0)
                if stateful:
                    tr.state_in.append(tr.state)
                    tr.state = [x[j].copy() for x in state_out]
                tr.pending_obs = _NO_OBS
                env = self.envs[tr.env_index]
                clip = self._clipper(env, tr.agent_id)
                self._actions[tr.env_index][tr.agent_id] = clip(action) if clip is not None else action
            acted += len(tracks)
        return acted

    def _stack_observations(self, tracks: List[_AgentTrack]) -> Any:
        """The tracks' pending observations as one batch (``[B, ...]`` leaves);
        EnvDataError naming the first that does not fit its agent's observation space."""
        try:
            obs = stack([tr.pending_obs for tr in tracks])
            if batch_fits(self._observation_space(tracks[0].agent_id), obs):
                return obs
        except BATCHING_ERRORS:
            pass
        for tr in tracks:
            self._check_observation(self._episodes[tr.env_index], tr, tr.pending_obs)
        return stack([tr.pending_obs for tr in tracks])  # fits after all (e.g. extra keys)

    def _check_observation(self, episode: _Episode, track: _AgentTrack, obs: Any) -> None:
        """EnvDataError if ``obs``, which the agent's env returned at the episode's
        latest step, does not fit the agent's observation space."""
        problem = observation_problem(self._observation_space(track.agent_id), obs)
        if problem:
            where = self._where(episode, track.agent_id, "observation", track.module_id)
            raise EnvDataError(f"{where}: {problem}")

    def _where(self, episode: _Episode, agent_id: Any, what: str, module_id: Optional[ModuleID] = None) -> str:
        """Which env copy, agent (and module) and step returned the value (at the
        episode's latest step)."""
        e = episode.env_index
        env = self.envs[e]
        name = env_name(env.env if isinstance(env, ParallelEnvAdapter) else env)
        agent = f"agent {agent_id!r}" + ("" if module_id is None else f" (module {module_id!r})")
        step = "reset() returned" if episode.length == 0 else f"step() returned at step {episode.length} of the episode"
        return f"{name} (env copy {e}), {agent}: the {what} {step}"

    def _reward(self, episode: _Episode, agent_id: Any, reward: Any) -> float:
        """``reward`` as a float; EnvDataError if it is None, NaN or not a number."""
        try:
            value = float(reward)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise EnvDataError(f"{self._where(episode, agent_id, 'reward')}: {reward_problem(reward)}")
        return value

    def _step_env(self, e: int, fragments: List[Fragment], bootstraps: List[_Bootstrap]) -> None:
        """Step env copy ``e`` with the actions of :meth:`_act`; finish agents and the
        episode when they end (then reset the copy)."""
        episode = self._episodes[e]
        result = self.envs[e].step(self._actions[e])
        try:
            obs, rewards, terminateds, truncateds, infos = result
        except (TypeError, ValueError):
            check_step_result(self.envs[e], result)  # raises, saying what the env returned
        episode.length += 1
        for agent_id, reward in rewards.items():
            reward = self._reward(episode, agent_id, reward)
            episode.agent_returns[agent_id] = episode.agent_returns.get(agent_id, 0.0) + reward
            track = episode.tracks.get(agent_id)
            if track is not None and len(track):
                track.rewards[-1] += reward
        all_term = bool(terminateds.get(ALL, False))
        all_done = all_term or bool(truncateds.get(ALL, False))
        ended = {
            a for a in set(terminateds) | set(truncateds)
            if a != ALL and (terminateds.get(a, False) or truncateds.get(a, False))
        }
        for agent_id, agent_obs in obs.items():
            track = self._track(episode, agent_id)
            if agent_id in ended or all_done:
                continue
            track.pending_obs = agent_obs
        for agent_id in list(episode.tracks):
            if agent_id in ended or all_done:
                own_term = bool(terminateds.get(agent_id, False))
                own_trunc = bool(truncateds.get(agent_id, False))
                terminated = own_term or (not own_trunc and all_term)
                self._finish(episode, agent_id, terminated, obs.get(agent_id, _NO_OBS), fragments, bootstraps)
        custom = None
        if self._callbacks is not None:
            recorded = episode.callbacks_episode
            recorded.add_step(obs, self._actions[e], rewards, infos, all_term, all_done)
            kwargs = self._hook_kwargs(episode)
            self._callbacks.on_episode_step(**kwargs)
            if all_done:
                self._callbacks.on_episode_end(**kwargs)
                custom = recorded.summary()
        if all_done:
            module_returns: Dict[ModuleID, float] = {}
            for agent_id, ret in episode.agent_returns.items():
                mid = self._module_id(episode, agent_id)
                module_returns[mid] = module_returns.get(mid, 0.0) + ret
            self._metrics.add_episode(
                sum(episode.agent_returns.values()), episode.length, episode.agent_returns, module_returns, custom
            )
            self._episodes[e] = self._reset(e)

    def _finish(
        self, episode: _Episode, agent_id: Any, terminated: bool, final_obs: Any,
        fragments: List[Fragment], bootstraps: List[_Bootstrap],
    ) -> None:
        """The agent's episode ended: hand out its remaining steps."""
        track = episode.tracks.pop(agent_id)
        if not len(track):
            return
        fragments.append(self._fragment(track, len(track), terminated, not terminated))
        if not terminated:  # truncated: V(final obs); V(last obs) if the env gave none
            if final_obs is _NO_OBS:
                bootstraps.append((len(fragments) - 1, track.module_id, None, None, float(track.vf[-1])))
            else:
                self._check_observation(episode, track, final_obs)
                bootstraps.append((len(fragments) - 1, track.module_id, final_obs, track.state, 0.0))

    def _cut(self, fragments: List[Fragment], bootstraps: List[_Bootstrap]) -> None:
        """End of ``sample()``: hand out the running episodes' steps."""
        for episode in self._episodes:
            for track in episode.tracks.values():
                if track.pending_obs is not _NO_OBS:
                    if len(track):
                        fragments.append(self._fragment(track, len(track), False, False))
                        bootstraps.append(
                            (len(fragments) - 1, track.module_id, track.pending_obs, track.state, 0.0)
                        )
                        track.clear()
                elif len(track) >= 2:  # waiting for its next observation: keep the last step
                    fragments.append(self._fragment(track, len(track) - 1, False, False))
                    fragments[-1].bootstrap_value = float(track.vf[-1])
                    track.clear(keep_last=True)

    def _fragment(self, track: _AgentTrack, length: int, terminated: bool, truncated: bool) -> Fragment:
        """A fragment of the track's first ``length`` steps (bootstrap value filled later)."""
        sl = slice(0, length)
        state_in = None
        if track.state is not None:
            template = self._initial(track.module_id)[0]
            state_in = unflatten(template, [np.stack(x) for x in zip(*track.state_in[sl])])
        dist = track.dist[sl]
        return Fragment(
            obs=stack(track.obs[sl]),
            actions=stack(track.actions[sl]),
            rewards=np.asarray(track.rewards[sl], np.float32),
            action_logp=np.asarray(track.logp[sl], np.float32),
            action_dist_inputs=None if dist[0] is None else np.stack(dist),
            vf_preds=np.asarray(track.vf[sl], np.float32),
            terminated=terminated,
            truncated=truncated,
            bootstrap_value=0.0,
            state_in=state_in,
            module_id=track.module_id,
            agent_id=track.agent_id,
            env_index=track.env_index,
            episode_id=track.episode_id,
        )

    def _fill_bootstrap_values(
        self, fragments: List[Fragment], bootstraps: List[_Bootstrap], explore: bool
    ) -> None:
        """One batched forward per module for the fragments that need V(next obs)."""
        by_module: Dict[ModuleID, List[_Bootstrap]] = {}
        for item in bootstraps:
            if item[2] is None:
                fragments[item[0]].bootstrap_value = item[4]
            else:
                by_module.setdefault(item[1], []).append(item)
        for module_id, items in by_module.items():
            obs = stack([item[2] for item in items])
            stateful = items[0][3] is not None
            state = [np.stack(x) for x in zip(*[item[3] for item in items])] if stateful else None
            values = self._actor(module_id).values(obs, self._state(module_id, state), explore=explore)
            if values is None:
                continue
            for item, v in zip(items, values):
                fragments[item[0]].bootstrap_value = float(v)
