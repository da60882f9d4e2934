"""compat.rllib: our RLModules trained by RLlib 2.60's new API stack.

RLlib's learners and env runners build an RLlib ``TorchRLModule``; the adapter classes
here are such modules, each building one of OUR modules in ``setup()`` and passing the
forwards, ``compute_values``, distribution classes, recurrent state and (APPO) target
networks through::

    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from compat.rllib import RLlibAdapter, adapter_model_config, to_rllib_spec

    spec = RLModuleSpec(module_class=RLlibAdapter,
                        model_config=adapter_model_config(MyModel, {"fcnet_hiddens": [64]}))
    spec = to_rllib_spec(our_single_or_multi_agent_spec)

* ``compat.rllib.spec``: :func:`adapter_model_config`, :func:`to_rllib_spec`, :func:`our_spec`
  (ray only inside ``to_rllib_spec``);
* ``compat.rllib.adapter``: :class:`RLlibAdapter`, :class:`RLlibTargetAdapter` (imports ray);
* ``compat.rllib.checkpoints``: :func:`export_rllib_checkpoint`, :func:`import_rllib_module`.

The names below import their module on first use: ``import compat.rllib`` loads no ray.
"""

from rlmodule.lazy import lazy_getattr

__all__ = [
    "RLlibAdapter", "RLlibTargetAdapter", "adapter_model_config", "export_rllib_checkpoint",
    "import_rllib_module", "our_spec", "to_rllib_spec",
]

__getattr__ = lazy_getattr(__name__, {
    "RLlibAdapter": "compat.rllib.adapter",
    "RLlibTargetAdapter": "compat.rllib.adapter",
    "adapter_model_config": "compat.rllib.spec",
    "our_spec": "compat.rllib.spec",
    "to_rllib_spec": "compat.rllib.spec",
    "export_rllib_checkpoint": "compat.rllib.checkpoints",
    "import_rllib_module": "compat.rllib.checkpoints",
})

