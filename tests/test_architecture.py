"""The shape of the code: a core that knows no process, and process plug-ins (ADR 0012).

import-linter (`make lint`) checks the imports of the modules its contracts list; these tests
check that the lists stay complete, and that every installed process registers a descriptor.
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import pytest
from django.apps import apps

import processes
from processes.registry import AlreadyRegistered, NotRegistered, ProcessDescriptor, ProcessRegistry, registry

ROOT = Path(__file__).resolve().parent.parent


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def _plugin_packages() -> set[str]:
    """The installed apps that live under `processes/` besides the core itself."""
    return {config.name for config in apps.get_app_configs() if config.name.startswith("processes.")}


def test_every_module_of_processes_is_core_or_a_plugin():
    core = set(_contracts()["core"]["source_modules"])
    children = {f"processes.{info.name}" for info in pkgutil.iter_modules(processes.__path__)}
    plugins = _plugin_packages()
    assert plugins == {"processes.purchase", "processes.orders", "processes.catalog"}
    unlisted = children - core - plugins
    assert not unlisted, f"list these in pyproject's core contract, or make them plug-in apps: {unlisted}"
    assert not core - children, f"the core contract names modules that do not exist: {core - children}"


def test_the_contracts_forbid_every_plugin():
    contracts = _contracts()
    plugins = _plugin_packages()
    assert set(contracts["core"]["forbidden_modules"]) == plugins | {"portal"}
    assert set(contracts["plugins"]["modules"]) == plugins
    assert set(contracts["project"]["source_modules"]) == plugins


def test_every_installed_plugin_registers_one_descriptor():
    described = {type(d).__module__.rsplit(".", 1)[0] for d in registry}
    assert _plugin_packages() <= described


def test_a_second_registration_fails_loudly():
    fresh = ProcessRegistry()
    flow = registry.flows()[0]

    class First(ProcessDescriptor):
        pass

    First.flow = flow
    fresh.register(First)
    with pytest.raises(AlreadyRegistered, match="already registered by First"):
        fresh.register(type("Second", (ProcessDescriptor,), {"flow": flow}))


def test_an_unregistered_flow_is_an_error_not_a_default():
    with pytest.raises(NotRegistered, match="add a `descriptor` module"):
        ProcessRegistry().for_flow(registry.flows()[0])
