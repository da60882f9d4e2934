"""The legacy ``model`` config dict: its defaults and a type check that names the key.

``MODEL_DEFAULTS`` equals RLlib 2.60's ``ray.rllib.models.catalog.MODEL_DEFAULTS`` for
every key a user can set, so a legacy ``model`` dict means the same network here.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Tuple

MODEL_DEFAULTS: Dict[str, Any] = {
    "fcnet_hiddens": [256, 256],
    "fcnet_activation": "tanh",
    "fcnet_weights_initializer": None,
    "fcnet_weights_initializer_config": None,
    "fcnet_bias_initializer": None,
    "fcnet_bias_initializer_config": None,
    "conv_filters": None,
    "conv_activation": "relu",
    "conv_kernel_initializer": None,
    "conv_kernel_initializer_config": None,
    "conv_bias_initializer": None,
    "conv_bias_initializer_config": None,
    "post_fcnet_hiddens": [],
    "post_fcnet_activation": "relu",
    "post_fcnet_weights_initializer": None,
    "post_fcnet_weights_initializer_config": None,
    "post_fcnet_bias_initializer": None,
    "post_fcnet_bias_initializer_config": None,
    "free_log_std": False,
    "log_std_clip_param": 20.0,
    "no_final_linear": False,
    "vf_share_layers": True,
    "use_lstm": False,
    "max_seq_len": 20,
    "lstm_cell_size": 256,
    "lstm_use_prev_action": False,
    "lstm_use_prev_reward": False,
    "_time_major": False,
    "use_attention": False,
    "attention_num_transformer_units": 1,
    "attention_dim": 64,
    "attention_num_heads": 1,
    "attention_head_dim": 32,
    "attention_memory_inference": 50,
    "attention_memory_training": 50,
    "attention_position_wise_mlp_dim": 32,
    "attention_init_gru_gate_bias": 2.0,
    "attention_use_n_prev_actions": 0,
    "attention_use_n_prev_rewards": 0,
    "framestack": True,
    "dim": 84,
    "grayscale": False,
    "zero_mean": True,
    "custom_model": None,
    "custom_model_config": {},
    "custom_action_dist": None,
    "custom_preprocessor": None,
    "encoder_latent_dim": None,
}


def _int_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(_is_int(x) for x in v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _conv_filters(v: Any) -> bool:
    return v is None or (
        isinstance(v, (list, tuple))
        and all(
            isinstance(f, (list, tuple))
            and len(f) == 3
            and _is_int(f[0])
            and (_is_int(f[1]) or _int_list(f[1]))
            and (_is_int(f[2]) or _int_list(f[2]))
            for f in v
        )
    )


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _pos_int(v: Any) -> bool:
    return _is_int(v) and v > 0


# key -> (predicate, what it must be)
_CHECKS: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "fcnet_hiddens": (_int_list, "a list of int"),
    "post_fcnet_hiddens": (_int_list, "a list of int"),
    "fcnet_activation": (_opt_str, "an activation name (str) or None"),
    "post_fcnet_activation": (_opt_str, "an activation name (str) or None"),
    "conv_activation": (_opt_str, "an activation name (str) or None"),
    "conv_filters": (_conv_filters, "None or a list of [out_channels, kernel, stride]"),
    "free_log_std": (_bool, "a bool"),
    "no_final_linear": (_bool, "a bool"),
    "vf_share_layers": (_bool, "a bool"),
    "use_lstm": (_bool, "a bool"),
    "use_attention": (_bool, "a bool"),
    "lstm_use_prev_action": (_bool, "a bool"),
    "lstm_use_prev_reward": (_bool, "a bool"),
    "max_seq_len": (_pos_int, "a positive int"),
    "lstm_cell_size": (_pos_int, "a positive int"),
    "dim": (_pos_int, "a positive int"),
    "custom_model_config": (lambda v: isinstance(v, Mapping), "a dict"),
}


def validate_model_config(config: Mapping[str, Any], where: str = "model_config_dict") -> None:
    """Raise TypeError naming the first known key whose value has the wrong type.

    Unknown keys are allowed: custom modules read keys of their own.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"{where} must be a dict, got {type(config).__name__}: {config!r}")
    for key, (ok, what) in _CHECKS.items():
        if key in config and not ok(config[key]):
            raise TypeError(
                f"{where}[{key!r}] must be {what}, got {type(config[key]).__name__}: "
                f"{config[key]!r}"
            )
