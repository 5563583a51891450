"""Bridges between palaestra and other environment ecosystems.

:mod:`palaestra.integrations.openenv_server` serves any registered palaestra environment
to OpenEnv clients (``palaestra serve-env ID``); :mod:`palaestra.integrations.openenv_env`
plays any OpenEnv server as a Gymnasium environment (``palaestra/OpenEnv-v0``). Both need
the ``openenv`` extra.
"""
