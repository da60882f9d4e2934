"""SingleAgentEnvRunner: steps ``N`` copies of a gymnasium env with an RLModule.

Shapes: ``N`` sub-environments, ``T`` vector steps per ``sample()`` call. Per call
the runner fills ``[N, T, ...]`` numpy buffers (one per column and observation
leaf), then slices each sub-env's row at its episode boundaries into
:class:`Fragment` s (contiguous views of the buffers). Episodes continue across
calls: the current observations, recurrent states and per-episode accumulators
live on the runner.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from rlmodule.acting import Actor, has_compute_values
from rlmodule.callbacks import DUMMY_AGENT_ID, Callbacks, Episode, MetricsLogger
from rlmodule.env_runners.action_clipping import make_action_clipper
from rlmodule.env_runners.env_state import get_env_state, set_env_state
from rlmodule.env_runners.episode_metrics import EpisodeMetrics
from rlmodule.env_runners.fragment import Fragment
from rlmodule.env_runners.runner_config import (
    config_num_envs,
    config_rollout_fragment_length,
    config_smoothing_window,
    env_seed,
)
from rlmodule.env_runners.vector_env import SameStepVectorEnv
from rlmodule.rl_module import DEFAULT_MODULE_ID, RLModule
from rlmodule.tree import flatten, index, stack, unflatten

# (env index, start step, end step (exclusive), terminated, truncated, episode id)
_Segment = Tuple[int, int, int, bool, bool, int]


class SingleAgentEnvRunner:
    """Collects :class:`Fragment` s from ``config.num_envs_per_env_runner`` copies of
    ``config.make_env()`` in one process.

    Args:
        config: an AlgorithmConfig (read: ``make_env()``, ``get_rl_module_spec(env)``,
            ``num_envs_per_env_runner`` (8), ``rollout_fragment_length`` (64 or
            ``"auto"``), ``metrics_num_episodes_for_smoothing`` (100), ``seed`` (None)).
        module: the RLModule to act with (torch or tf2); built from the config's
            spec if ``None``.
        worker_index: this runner's index; sub-env ``i`` is first reset with seed
            ``config.seed + 1000 * worker_index + i``.

    Attributes:
        env: the :class:`~rlmodule.env_runners.vector_env.SameStepVectorEnv` (``env.envs``
            are the sub-envs).
        module: the RLModule.
        num_envs: ``N``.
        metrics_logger: what callbacks log to (reported by :meth:`get_metrics`).

    With ``config.callbacks_class`` set, each sub-env's episode is recorded step by step
    as an :class:`~rlmodule.callbacks.Episode` and the episode hooks are called (see
    :mod:`rlmodule.callbacks`); without, sampling does none of that.
    """

    def __init__(self, config: Any, module: Optional[RLModule] = None, worker_index: int = 0) -> None:
        self.config = config
        self.worker_index = worker_index
        self.num_envs = config_num_envs(config)
        self.rollout_fragment_length = config_rollout_fragment_length(config, self.num_envs)
        self.env = SameStepVectorEnv([config.make_env for _ in range(self.num_envs)])
        _refuse_multi_agent_env(self.env.envs[0])
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        if module is None:
            module = config.get_rl_module_spec(self.env.envs[0]).build()
        self.module = module
        self._actor = Actor(module)
        self._clip = make_action_clipper(self.action_space)
        self._stateful = self._actor.stateful
        self._callbacks = Callbacks.make(config)
        self.metrics_logger = MetricsLogger()
        self._metrics = EpisodeMetrics(config_smoothing_window(config), custom=self._callbacks is not None)
        self._episodes: List[Optional[Episode]] = [None] * self.num_envs  # with callbacks: current episodes
        self._ended: Dict[int, Any] = {}  # sub-env -> its ended episode's (custom_metrics, hist_data)
        # Carried across sample() calls (set by the first reset).
        self._obs: Any = None  # [N, ...] numpy (nested for Dict/Tuple spaces)
        self._state: Optional[List[np.ndarray]] = None  # flat leaves, each [N, ...]
        self._state_template: Any = None
        self._initial_state: Optional[List[np.ndarray]] = None  # flat leaves, no batch dim
        self._episode_return = np.zeros(self.num_envs, np.float64)
        self._episode_len = np.zeros(self.num_envs, np.int64)
        self._episode_id = np.zeros(self.num_envs, np.int64)
        self._next_episode_id = worker_index << 32  # unique across runners too

    # --- public API -----------------------------------------------------------------
    def sample(self, num_timesteps: Optional[int] = None, explore: bool = True) -> List[Fragment]:
        """Step all sub-envs ``T = ceil(num_timesteps / N)`` times (default ``T =
        rollout_fragment_length``) and return the fragments: one per episode (part)
        per sub-env, in sub-env order, then time order."""
        n = self.num_envs
        if num_timesteps is None:
            steps = self.rollout_fragment_length
        else:
            if num_timesteps < 1:
                raise ValueError(f"sample(num_timesteps={num_timesteps}): must be >= 1")
            steps = math.ceil(num_timesteps / n)
        if self._obs is None:
            self._first_reset()
        with self._actor.mode():
            buffers, segments, bootstraps = self._run(steps, explore)
            values = None if buffers["values_later"] else self._bootstrap_values(bootstraps, explore)
        self._metrics.add_steps(steps * n)
        fragments = self._fragments(buffers, segments, bootstraps, values)
        if self._callbacks is not None:
            self._callbacks.on_sample_end(
                env_runner=self, worker=self, metrics_logger=self.metrics_logger, samples=fragments
            )
        return fragments

    def get_metrics(self) -> Dict[str, Any]:
        """Episode statistics (mean/min/max return and mean length over the last
        ``metrics_num_episodes_for_smoothing`` completed episodes, NaN if none),
        ``num_episodes`` and ``num_env_steps_sampled`` since the last call, and
        ``num_env_steps_sampled_lifetime``; with callbacks ``custom_metrics``,
        ``hist_stats`` and what they logged to ``metrics_logger``."""
        metrics = self._metrics.reduce()
        metrics.update(self.metrics_logger.reduce())
        return metrics

    def get_weights(self) -> Dict[str, Any]:
        """``module.get_state()``."""
        return self.module.get_state()

    def set_weights(self, state: Dict[str, Any]) -> None:
        """``module.set_state(state)``."""
        self.module.set_state(state)

    def get_state(self) -> Dict[str, Any]:
        """The runner's checkpointable state, JSON scalars and numpy arrays only:
        episode statistics and counters, and (once sampling started) what sampling
        continues from: the current observations, recurrent states, per-episode
        accumulators and ids, and each sub-env's state (see
        :func:`rlmodule.env_runners.env_state.get_env_state`). With the same weights
        and global RNG state, a runner given this state samples what this one would."""
        state: Dict[str, Any] = {
            "metrics": self._metrics.get_state(),
            "next_episode_id": int(self._next_episode_id),
            "started": self._obs is not None,
        }
        if self._obs is not None:
            state.update(
                obs=[np.array(x) for x in flatten(self._obs)],
                recurrent_state=[np.array(x) for x in self._state] if self._stateful else [],
                episode_return=self._episode_return.copy(),
                episode_len=self._episode_len.copy(),
                episode_id=self._episode_id.copy(),
                envs=[get_env_state(env) for env in self.env.envs],
            )
        return state

    def set_state(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (from a runner of the same config)."""
        self._metrics.set_state(state["metrics"])
        if state.get("started"):
            if len(state["envs"]) != self.num_envs:
                raise ValueError(
                    f"{type(self).__name__}.set_state(): the state has {len(state['envs'])} "
                    f"sub-envs, this runner {self.num_envs}"
                )
            self._first_reset(start_episodes=False)  # initialises the vector env, then every part is replaced
            for env, env_state in zip(self.env.envs, state["envs"]):
                set_env_state(env, env_state)
            self._obs = unflatten(self._obs, [np.array(x) for x in state["obs"]])
            if self._stateful:
                self._state = [np.array(x) for x in state["recurrent_state"]]
            self._episode_return = np.array(state["episode_return"], np.float64)
            self._episode_len = np.array(state["episode_len"], np.int64)
            self._episode_id = np.array(state["episode_id"], np.int64)
            if self._callbacks is not None:  # callbacks see the running episodes from here on
                for i in range(self.num_envs):
                    self._start_episode(i, _own(index(self._obs, i)), {})
        self._next_episode_id = int(state["next_episode_id"])

    def stop(self) -> None:
        """Close the environments."""
        self.env.close()

    # --- internals --------------------------------------------------------------------
    def _first_reset(self, start_episodes: bool = True) -> None:
        seeds = [env_seed(self.config, self.worker_index, i) for i in range(self.num_envs)]
        obs = self.env.reset(seed=seeds)
        self._obs = obs
        for i in range(self.num_envs):
            self._episode_id[i] = self._new_episode_id()
            if self._callbacks is not None and start_episodes:
                self._start_episode(i, _own(index(obs, i)), self.env.reset_infos.get(i, {}))
        if self._stateful:
            initial = self._actor.initial_state()
            self._state_template = initial
            self._initial_state = [np.asarray(x) for x in flatten(initial)]
            self._state = [np.repeat(x[None], self.num_envs, axis=0) for x in self._initial_state]

    # --- callbacks ------------------------------------------------------------------------------
    def _hook_kwargs(self, i: int, episode: Episode) -> Dict[str, Any]:
        """The episode hooks' keyword arguments (RLlib 2.60's names and the legacy ones)."""
        return dict(
            episode=episode, env_runner=self, worker=self, metrics_logger=self.metrics_logger,
            env=self.env, base_env=self.env, env_index=i, rl_module=self.module,
            policies={DEFAULT_MODULE_ID: self.module},
        )

    def _start_episode(self, i: int, obs: Any, info: Dict[str, Any]) -> None:
        """Sub-env ``i`` was reset: a new :class:`Episode` (id ``self._episode_id[i]``)."""
        episode = Episode(int(self._episode_id[i]), i)
        episode.add_reset({DUMMY_AGENT_ID: obs}, {DUMMY_AGENT_ID: info})
        self._episodes[i] = episode
        self._callbacks.on_episode_start(**self._hook_kwargs(i, episode))

    def _record_step(self, actions: Any, obs: Any, rewards: np.ndarray, terminated: np.ndarray,
                     truncated: np.ndarray, final_obs: Dict[int, Any]) -> None:
        """One vector step into each sub-env's episode, ``on_episode_step`` for each and
        ``on_episode_end`` for those that ended (their summaries kept for the metrics)."""
        callbacks, infos = self._callbacks, self.env.infos
        for i, episode in enumerate(self._episodes):
            ended = i in final_obs
            episode.add_step(
                {DUMMY_AGENT_ID: final_obs[i] if ended else _own(index(obs, i))},
                {DUMMY_AGENT_ID: _own(index(actions, i))},
                {DUMMY_AGENT_ID: float(rewards[i])},
                {DUMMY_AGENT_ID: infos[i]},
                bool(terminated[i]),
                bool(truncated[i]),
            )
            kwargs = self._hook_kwargs(i, episode)
            callbacks.on_episode_step(**kwargs)
            if ended:
                callbacks.on_episode_end(**kwargs)
                self._ended[i] = episode.summary()

    def _new_episode_id(self) -> int:
        self._next_episode_id += 1
        return self._next_episode_id

    def _run(self, steps: int, explore: bool) -> Tuple[Dict[str, Any], List[_Segment], List[Tuple[int, Any, Any]]]:
        """The stepping loop. Returns ``(buffers, segments, bootstraps)``: buffers of
        ``[N, T, ...]`` arrays (flat leaf lists for obs/actions/state), the episode
        segments, and ``(segment index, obs, state leaves or None)`` per segment that
        needs V(next obs)."""
        env, n = self.env, self.num_envs
        act, unflatten_state = self._actor.act, self._state_template
        stateful, clip, callbacks = self._stateful, self._clip, self._callbacks
        # Values the acting forward leaves out come from compute_values(): per step when
        # recurrent (they need the step's state), else the learner computes them in one
        # batch (fragments then carry bootstrap_obs).
        step_values = explore and stateful
        obs = self._obs
        state = self._state
        obs_template = obs
        single_obs = type(obs) is np.ndarray
        obs_bufs = [np.empty((n, steps) + x.shape[1:], x.dtype) for x in flatten(obs)]
        obs_buf0 = obs_bufs[0]
        state_bufs = (
            [np.empty((n, steps) + x.shape[1:], x.dtype) for x in state] if stateful else None
        )
        rewards = np.empty((n, steps), np.float64)
        logp_buf = np.empty((n, steps), np.float32)
        vf_buf = np.zeros((n, steps), np.float32)
        act_bufs: List[np.ndarray] = []
        act_template: Any = None
        dist_buf: Optional[np.ndarray] = None
        single_act = values_later = False
        start = [0] * n  # first step of each sub-env's current segment
        segments: List[_Segment] = []
        bootstraps: List[Tuple[int, Any, Any]] = []

        for t in range(steps):
            # --- act on obs (per-step work is vectorised over the N sub-envs) ---------
            if single_obs:
                obs_buf0[:, t] = obs
            else:
                for buf, leaf in zip(obs_bufs, flatten(obs)):
                    buf[:, t] = leaf
            if stateful:
                for buf, leaf in zip(state_bufs, state):
                    buf[:, t] = leaf
                step = act(obs, unflatten(unflatten_state, state), explore=explore, values=step_values)
                state = [np.array(x) for x in flatten(step.state_out)]
            else:
                step = act(obs, explore=explore, values=False)
            actions, vf, dist = step.actions, step.vf_preds, step.action_dist_inputs
            if t == 0:
                act_template = actions
                single_act = type(actions) is np.ndarray
                act_bufs = [
                    np.empty((n, steps) + np.shape(x)[1:], np.asarray(x).dtype) for x in flatten(actions)
                ]
                values_later = explore and vf is None and not stateful and has_compute_values(self.module)
                if dist is not None:
                    dist_buf = np.empty((n, steps) + dist.shape[1:], np.float32)
            if single_act:
                act_bufs[0][:, t] = actions
            else:
                for buf, leaf in zip(act_bufs, flatten(actions)):
                    buf[:, t] = leaf
            logp_buf[:, t] = step.logp
            if vf is not None:
                vf_buf[:, t] = vf
            if dist_buf is not None:
                dist_buf[:, t] = dist

            # --- step the envs (same-step autoreset: obs of an ended sub-env is its reset obs)
            obs, rew, terminated, truncated, final_obs = env.step(clip(actions) if clip is not None else actions)
            rewards[:, t] = rew
            if callbacks is not None:
                self._record_step(actions, obs, rew, terminated, truncated, final_obs)
            if final_obs:  # some sub-env's episode ended at this step
                for i, last_obs in final_obs.items():
                    term = bool(terminated[i])
                    segments.append((i, start[i], t + 1, term, not term, int(self._episode_id[i])))
                    if not term:  # truncated: bootstrap from the real last observation
                        row_state = [s[i].copy() for s in state] if stateful else None
                        bootstraps.append((len(segments) - 1, last_obs, row_state))
                    self._end_episode(i, rewards[i, start[i] : t + 1], t + 1 - start[i])
                    if callbacks is not None:
                        self._start_episode(i, _own(index(obs, i)), env.reset_infos.get(i, {}))
                    start[i] = t + 1
                    if stateful:
                        for s, init in zip(state, self._initial_state):
                            s[i] = init

        # Episodes cut by the end of this call continue in the next one.
        obs = _own(obs)
        for i in range(n):
            if start[i] < steps:
                segments.append((i, start[i], steps, False, False, int(self._episode_id[i])))
                row_state = [s[i].copy() for s in state] if stateful else None
                bootstraps.append((len(segments) - 1, index(obs, i), row_state))
                self._carry_episode(i, rewards[i, start[i] :], steps - start[i])
        self._obs = obs
        self._state = state
        buffers = {
            "obs": (obs_template, obs_bufs),
            "actions": (act_template, act_bufs),
            "state": state_bufs,
            "rewards": rewards.astype(np.float32),
            "logp": logp_buf,
            "vf": vf_buf,
            "dist": dist_buf,
            "values_later": values_later,
        }
        return buffers, segments, bootstraps

    def _end_episode(self, i: int, rewards: np.ndarray, length: int) -> None:
        """Sub-env ``i``'s episode ended with these ``rewards`` (this call's part):
        record its statistics, start a new episode id."""
        # A left fold, as a hand-stepped ``ret += r`` loop sums (np.sum is pairwise).
        ret = sum(rewards.tolist(), float(self._episode_return[i]))
        self._metrics.add_episode(ret, int(self._episode_len[i]) + length, custom=self._ended.pop(i, None))
        self._episode_return[i] = 0.0
        self._episode_len[i] = 0
        self._episode_id[i] = self._new_episode_id()

    def _carry_episode(self, i: int, rewards: np.ndarray, length: int) -> None:
        """Sub-env ``i``'s episode runs on into the next call: accumulate its return."""
        self._episode_return[i] = sum(rewards.tolist(), float(self._episode_return[i]))
        self._episode_len[i] += length

    def _bootstrap_values(self, bootstraps: List[Tuple[int, Any, Any]], explore: bool) -> np.ndarray:
        """V(obs) of every bootstrap entry: one batched forward (``[M]``); zeros if the
        module returns no ``vf_preds``."""
        values = np.zeros(len(bootstraps), np.float32)
        if not bootstraps:
            return values
        obs = stack([b[1] for b in bootstraps])
        state = None
        if self._stateful:
            leaves = [np.stack(leaves) for leaves in zip(*[b[2] for b in bootstraps])]
            state = unflatten(self._state_template, leaves)
        v = self._actor.values(obs, state, explore=explore)
        if v is not None:
            values[:] = v
        return values

    def _fragments(
        self,
        buffers: Dict[str, Any],
        segments: List[_Segment],
        bootstraps: List[Tuple[int, Any, Any]],
        values: Optional[np.ndarray],
    ) -> List[Fragment]:
        """``values``: the bootstrap values, or ``None`` when the learner computes values
        (fragments then get ``vf_preds=None`` and ``bootstrap_obs``)."""
        if values is None:
            bootstrap_obs = {seg_index: obs for seg_index, obs, _ in bootstraps}
            bootstrap_of = dict.fromkeys(bootstrap_obs, 0.0)
        else:
            bootstrap_obs = {}
            bootstrap_of = {seg_index: float(v) for (seg_index, _, _), v in zip(bootstraps, values)}
        obs_template, obs_bufs = buffers["obs"]
        act_template, act_bufs = buffers["actions"]
        state_bufs = buffers["state"]
        rewards, logp, vf, dist = buffers["rewards"], buffers["logp"], buffers["vf"], buffers["dist"]
        # Sub-env order, then time order (segments were appended in time order).
        order = sorted(range(len(segments)), key=lambda k: (segments[k][0], segments[k][1]))
        fragments = []
        for k in order:
            i, t0, t1, term, trunc, episode_id = segments[k]
            sl = (i, slice(t0, t1))
            fragments.append(
                Fragment(
                    obs=unflatten(obs_template, [b[sl] for b in obs_bufs]),
                    actions=unflatten(act_template, [b[sl] for b in act_bufs]),
                    rewards=rewards[sl],
                    action_logp=logp[sl],
                    action_dist_inputs=None if dist is None else dist[sl],
                    vf_preds=None if values is None else vf[sl],
                    terminated=term,
                    truncated=trunc,
                    bootstrap_value=0.0 if term else bootstrap_of[k],
                    state_in=None
                    if state_bufs is None
                    else unflatten(self._state_template, [b[sl] for b in state_bufs]),
                    module_id=DEFAULT_MODULE_ID,
                    agent_id=None,
                    env_index=i,
                    episode_id=episode_id,
                    bootstrap_obs=bootstrap_obs.get(k),
                )
            )
        return fragments


def _refuse_multi_agent_env(env: Any) -> None:
    from rlmodule.envs.multi_agent_env import GUIDE, MultiAgentEnv

    if isinstance(env, MultiAgentEnv):
        raise TypeError(
            f"{type(env).__name__} is a MultiAgentEnv: configure it as multi-agent (environment() with the env "
            f"class, or multi_agent(policies=..., policy_mapping_fn=...)) - see {GUIDE}"
        )


def _own(obs: Any) -> Any:
    """A copy of the vector env's observation buffer (``copy=False`` reuses it)."""
    if type(obs) is np.ndarray:
        return obs.copy()
    if isinstance(obs, dict):
        return {k: _own(v) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(_own(v) for v in obs)
    if isinstance(obs, (np.generic, int, float)):  # immutable scalars
        return obs
    return np.array(obs)
